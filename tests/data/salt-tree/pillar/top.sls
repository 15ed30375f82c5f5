base:
  '*':
    - base
  'service_name:myapp':
    - match: grain
    - myapp
  'G@service_group:myapp-testing and G@region:useast1':
    - match: compound
    - myapp.testing
  'other-*':
    - never-matched
