{% from 'myapp/map.jinja' import myapp, defaults with context %}
{% set group = grains['service_group'] %}
{% do salt.log.debug('rendering the queues of ' ~ group) %}
{{ group }}-queues:
  boto_sqs.present:
    - names:
      - {{ group }}-jobs
      - {{ group }}-events:
        - attributes:
            VisibilityTimeout: {{ salt.pillar.get('myapp:events_visibility', 120) }}
    - attributes:
        VisibilityTimeout: {{ myapp.visibility }}
        MessageRetentionPeriod: {{ defaults.retention }}
    - region: {{ grains['aws_region'] }}
    - profile: {{ salt['pillar.get']('myapp:profile', 'myapp') }}

{# The state id is the name. #}
{{ group }}-audit:
  boto_sqs.present:
    - tags: {{ {'owner': salt['pillar.get']('owner')}|yaml }}
    - attributes: []
