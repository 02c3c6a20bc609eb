"""The REST API: handlers per feature, one router that validates, authenticates and documents."""
