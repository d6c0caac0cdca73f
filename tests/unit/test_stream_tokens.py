"""Stream tokens: scoped to their user, refused when forged or expired."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.refusals import Unauthorized
from api.stream_tokens import StreamTokens
from api.users import User

USER = User(id="u1", name="alice")


@given(name=st.text(min_size=1, max_size=30), admin=st.booleans())
def test_a_token_gives_back_its_user(name: str, admin: bool) -> None:
    user = User(id="u-" + name, name=name, is_admin=admin)
    tokens = StreamTokens(b"k" * 32, ttl_s=60)
    token, _ = tokens.issue(user)
    assert tokens.verify(token) == user


def test_an_expired_token_is_refused() -> None:
    tokens = StreamTokens(b"k" * 32, ttl_s=-1)
    token, expires_at = tokens.issue(USER)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(token)
    assert expires_at > 0


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token, _ = StreamTokens(b"a" * 32, ttl_s=60).issue(USER)
    with pytest.raises(Unauthorized, match="invalid"):
        StreamTokens(b"b" * 32, ttl_s=60).verify(token)
