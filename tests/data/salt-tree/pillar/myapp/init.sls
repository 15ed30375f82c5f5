include:
  - .policies
myapp:
  zones: [us-east-1a, us-east-1b]
  events_visibility: 60
  lookup:
    visibility: 40
boto_asg_scaling_policies:
  - name: ScaleUp
    adjustment_type: ChangeInCapacity
    scaling_adjustment: 1
    cooldown: 300
