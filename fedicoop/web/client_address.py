"""The address a request comes from, through the reverse proxies the co-op trusts.

Behind nginx or Caddy every request arrives from the proxy's address; the proxy names the
client in `X-Forwarded-For`. That header is believed only from a trusted proxy (config
`trusted_proxies`, loopback by default), and read from the right: each trusted hop is
skipped, and the first address that is not a trusted proxy is the client. A client talking
to the server directly cannot choose its address by sending the header itself.
"""

from ipaddress import ip_address

from aiohttp import web

from fedicoop.web.keys import INSTANCE


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        return str(ip_address(address.strip())) in trusted
    except ValueError:
        return False


def client_address(request: web.Request) -> str:
    """Return the client's IP address as text ("?" when unknown)."""
    remote = request.remote or "?"
    trusted = request.config_dict[INSTANCE].config.trusted_proxies
    forwarded = request.headers.get("X-Forwarded-For")
    if not forwarded or not _is_trusted(remote, trusted):
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            try:
                return str(ip_address(hop))
            except ValueError:
                return remote  # a malformed hop: trust nothing the chain says
    return hops[0] if hops else remote
