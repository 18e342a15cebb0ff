"""Typed application state keys shared by every route module."""

from aiohttp import web

from fedicoop.instance import Instance

INSTANCE = web.AppKey("instance", Instance)
