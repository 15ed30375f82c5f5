{{ grains['cluster_name'] }}:
  boto_iam_role.present:
    - policies_from_pillars:
      - myapp:role_policies
    - policies:
        inline-extra:
          Version: '2012-10-17'
          Statement:
            - Effect: Allow
              Action: ['sqs:GetQueueUrl']
              Resource: '*'
  boto_sqs.present:
    - name: {{ grains['cluster_name'] }}-role-queue

needs-a-master:
  boto_sqs.present:
    - name: {{ grains['service_group'] }}-from-master
    - attributes: {{ salt['cp.get_file_str']('salt://myapp/queue-attributes.json') }}
