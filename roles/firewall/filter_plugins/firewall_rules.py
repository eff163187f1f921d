"""Filters of the firewall role: each rule checked, and its sources split by address family."""

from __future__ import annotations

import ipaddress

ALLOWED_SOURCES = "allowed: IPv4 or IPv6 addresses or networks (CIDR, e.g. 10.0.0.0/24)"


def _network(source: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(source))
    except ValueError:
        return None


def _source_error(source: str) -> str:
    try:
        wide = ipaddress.ip_network(str(source), strict=False)
    except ValueError:
        return f"{source} is not an address"
    return f"{source} has bits set beyond its prefix (did you mean {wide}?)"


def firewall_bad_rules(rules: list[dict], variable: str) -> list[str]:
    """One message per bad rule (its port, sources or comment), naming the variable; [] when all are good."""
    errors = []
    for index, rule in enumerate(rules):
        name = f"{variable}[{index}] (port {rule.get('port')})"
        port = rule.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            errors.append(f"{name}: the port is {port!r}; allowed: an integer from 1 to 65535")
        sources = rule.get("sources") or []
        if not sources:
            errors.append(f"{name} has no sources; {ALLOWED_SOURCES}")
        bad = [_source_error(source) for source in sources if _network(source) is None]
        if bad:
            errors.append(f"{name}: {'; '.join(bad)}; {ALLOWED_SOURCES}")
        comment = str(rule.get("comment") or "")
        if '"' in comment or "\n" in comment or len(comment.encode()) > 128:
            errors.append(f"{name}: the comment {comment!r}; allowed: one line of up to 128 bytes, no double quotes")
    return errors


def firewall_by_family(sources: list[str]) -> dict[str, list[str]]:
    """{'ip': [...], 'ip6': [...]}: the sources as nft writes them, by family (empty families left out)."""
    families: dict[str, list[str]] = {}
    for source in sources:
        network = ipaddress.ip_network(str(source))
        text = str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)
        families.setdefault("ip" if network.version == 4 else "ip6", []).append(text)
    return families


def firewall_admits(sources: list[str], address: str) -> bool:
    """Whether ``address`` is within one of ``sources`` (every address when there are none)."""
    if not sources:
        return True
    client = ipaddress.ip_address(address)
    return any(client in ipaddress.ip_network(str(source)) for source in sources if _network(source) is not None)


class FilterModule:
    """firewall_bad_rules, firewall_by_family, firewall_admits."""

    def filters(self) -> dict:
        """Map the filters' names to their functions."""
        return {
            "firewall_bad_rules": firewall_bad_rules,
            "firewall_by_family": firewall_by_family,
            "firewall_admits": firewall_admits,
        }
