"""Every typed application key in one place."""

from __future__ import annotations

import socketio
from aiohttp import web

from energymon.config import Config
from energymon.events import EventHub
from energymon.ingest.bus import LocalBus
from energymon.realtime.bridge import Bridge
from energymon.rpc.server import ChatServer
from energymon.services.accounts import AccountService
from energymon.services.alerts import AlertService
from energymon.services.chat import ChatService
from energymon.services.consumption import ConsumptionService
from energymon.services.devices import DeviceService
from energymon.services.ingest import IngestService
from energymon.services.ingest_tokens import IngestTokenService
from energymon.services.users import UserService
from energymon.storage import Database

CONFIG = web.AppKey("config", Config)
DATABASE = web.AppKey("database", Database)
HUB = web.AppKey("hub", EventHub)
ACCOUNTS = web.AppKey("accounts", AccountService)
USERS = web.AppKey("users", UserService)
DEVICES = web.AppKey("devices", DeviceService)
INGEST = web.AppKey("ingest", IngestService)
INGEST_TOKENS = web.AppKey("ingest_tokens", IngestTokenService)
CONSUMPTION = web.AppKey("consumption", ConsumptionService)
ALERTS = web.AppKey("alerts", AlertService)
BUS = web.AppKey("bus", LocalBus)
OPENAPI = web.AppKey("openapi", dict)
SIO = web.AppKey("sio", socketio.AsyncServer)
BRIDGE = web.AppKey("bridge", Bridge)
CHAT = web.AppKey("chat", ChatService)
GRPC = web.AppKey("grpc", ChatServer)
