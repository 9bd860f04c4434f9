"""pb.core.clientip.client_ip: X-Forwarded-For is believed only from PB_TRUSTED_PROXIES, right to left."""

import pytest
from django.test import RequestFactory

from ballots.roll import throttle
from pb.core.clientip import client_ip


def _ip(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


@pytest.fixture(autouse=True)
def _default_proxies(settings):
    settings.PB_TRUSTED_PROXIES = ["127.0.0.1", "::1"]


def test_direct_client_is_its_remote_address_whatever_it_claims():
    assert _ip("203.0.113.5") == "203.0.113.5"
    assert _ip("203.0.113.5", "10.0.0.1") == "203.0.113.5"
    assert _ip("203.0.113.5", "127.0.0.1") == "203.0.113.5"


def test_behind_the_proxy_the_right_most_untrusted_hop():
    assert _ip("127.0.0.1", "198.51.100.7") == "198.51.100.7"
    # The client wrote the left part itself; nginx appended the address it saw.
    assert _ip("127.0.0.1", "1.2.3.4, 10.0.0.1, 198.51.100.7") == "198.51.100.7"
    assert _ip("::1", "2001:db8::5") == "2001:db8::5"


def test_proxy_without_forwarded_for_is_counted_under_its_own_address():
    assert _ip("127.0.0.1") == "127.0.0.1"
    assert _ip("127.0.0.1", "") == "127.0.0.1"
    assert _ip("127.0.0.1", " , ,") == "127.0.0.1"


def test_chained_proxies_and_networks(settings):
    settings.PB_TRUSTED_PROXIES = ["10.0.0.0/24", "192.0.2.10"]
    # load balancer 192.0.2.10 -> nginx 10.0.0.5 -> app
    assert _ip("10.0.0.5", "spoof, 198.51.100.9, 192.0.2.10") == "198.51.100.9"
    assert _ip("127.0.0.1", "198.51.100.9") == "127.0.0.1"  # localhost is no longer trusted here


def test_setting_as_a_comma_string(settings):
    settings.PB_TRUSTED_PROXIES = "10.1.1.1, 10.1.1.2"
    assert _ip("10.1.1.2", "198.51.100.4") == "198.51.100.4"


def test_garbage_and_odd_forms():
    assert _ip("127.0.0.1", "not-an-ip") == "127.0.0.1"  # nothing believable: the proxy itself
    assert _ip("127.0.0.1", "198.51.100.7, garbage") == "127.0.0.1"
    assert _ip("127.0.0.1", "203.0.113.5:51234") == "203.0.113.5"
    assert _ip("127.0.0.1", "[2001:db8::1]:443") == "2001:db8::1"
    assert _ip("127.0.0.1", "::ffff:198.51.100.8") == "198.51.100.8"
    assert _ip("127.0.0.1", "x" * 10_000) == "127.0.0.1"
    assert _ip("") == ""


def test_one_function_everywhere(settings):
    assert throttle.client_ip is client_ip
    assert settings.AXES_CLIENT_IP_CALLABLE == "pb.core.clientip.client_ip"


def test_ipv6_clients_are_counted_per_64():
    assert throttle.client_key("2001:db8:1:2::1") == throttle.client_key("2001:db8:1:2:ffff::9")
    assert throttle.client_key("2001:db8:1:2::1") != throttle.client_key("2001:db8:1:3::1")
    assert throttle.client_key("::ffff:198.51.100.8") == "198.51.100.8"
