owner: ops
image_id: ami-fakeami
boto_elb_attributes:
  cross_zone_load_balancing:
    enabled: true
  connecting_settings:
    idle_timeout: 60
