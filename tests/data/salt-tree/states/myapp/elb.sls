{{ grains['cluster_name'] }}:
  boto_elb.present:
    - availability_zones: {{ salt['pillar.get']('myapp:zones')|json }}
    - listeners:
      - elb_port: 80
        instance_port: 8080
        elb_protocol: HTTP
    - attributes:
        connecting_settings:
          idle_timeout: 90
