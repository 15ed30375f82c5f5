{% from 'myapp/map.jinja' import myapp with context %}
{% set cluster = grains['cluster_name'] %}
{{ cluster }}-lc:
  boto_lc.present:
    - image_id: {{ pillar['image_id'] }}
    - instance_type: {{ myapp.instance_type }}
    - security_groups: []

{{ cluster }}:
  boto_asg.present:
    - launch_config_name: {{ cluster }}-lc
    - availability_zones: {{ salt['pillar.get']('myapp:zones')|json }}
    - min_size: 0
    - max_size: 2
    - desired_capacity: 0
