"""Ozon push notifications: the HTTP endpoint and the service that runs the order mirror."""
