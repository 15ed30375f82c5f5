myapp:
  events_visibility: 90
