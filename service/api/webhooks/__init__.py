"""The API's webhook registrations, in Partner Center's shape (the sending is
``service.webhooks``)."""
