"""Typed application state keys shared by every route module."""

from aiohttp import web

from fedicoop.activitypub.runtime import Federation
from fedicoop.instance import Instance

INSTANCE = web.AppKey("instance", Instance)
FEDERATION = web.AppKey("federation", Federation)
