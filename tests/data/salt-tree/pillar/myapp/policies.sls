myapp:
  role_policies:
    read-queues:
      Version: '2012-10-17'
      Statement:
        - Effect: Allow
          Action: ['sqs:ReceiveMessage']
          Resource: '*'
