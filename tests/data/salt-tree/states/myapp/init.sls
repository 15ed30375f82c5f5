include:
  - .queues
  - .asg
  - .elb
  - .iam
