"""WebSocket routes. Each app that speaks WebSocket adds its patterns here."""

from django.urls import URLPattern, URLResolver, path

from meetings.consumers import RoomConsumer

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/rooms/<str:meeting>/", RoomConsumer.as_asgi()),
]
