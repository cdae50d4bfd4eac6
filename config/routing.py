"""WebSocket routes. Each app that speaks WebSocket adds its patterns here."""

from django.urls import URLPattern, URLResolver

websocket_urlpatterns: list[URLPattern | URLResolver] = []
