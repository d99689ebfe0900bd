"""The API's writes: POST, PATCH and PUT of referrals as commands on Kafka, answered with
their outcome."""
