"""Every typed application key in one place."""

from __future__ import annotations

from aiohttp import web

from energymon.config import Config
from energymon.services.accounts import AccountService
from energymon.services.devices import DeviceService
from energymon.services.users import UserService
from energymon.storage import Database

CONFIG = web.AppKey("config", Config)
DATABASE = web.AppKey("database", Database)
ACCOUNTS = web.AppKey("accounts", AccountService)
USERS = web.AppKey("users", UserService)
DEVICES = web.AppKey("devices", DeviceService)
OPENAPI = web.AppKey("openapi", dict)
