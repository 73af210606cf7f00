"""Writes scram_users.json and scram_transcript.json with the reference, haystack-py 0.1.10.

    python scram_vectors.py   (from this directory, with hs_py installed)

scram_users.json: three users made by hs_py.user.create_user(..., iterations=4096)
and dumped with hs_py.user.user_to_dict, as the reference stores them.
scram_transcript.json: one whole SCRAM-SHA-256 exchange for the second user,
between the reference's client helpers (hs_py.auth) and its server steps
(hs_py._scram_core), checked by the reference itself.
"""

import json

from hs_py._scram_core import HandshakeState, _parse_header_params, scram_step1, scram_step2
from hs_py.auth import _b64url_decode, scram_client_final, scram_client_first, verify_server_signature
from hs_py.user import Role, create_user, user_to_dict

PASSWORDS = {"alice": "wonderland", "bob=,admin": "s3cret, with comma", "carol": "disabled-pw"}

users = [
    create_user("alice", PASSWORDS["alice"], first_name="Alice", email="alice@example.com",
                role=Role.OPERATOR, iterations=4096),
    create_user("bob=,admin", PASSWORDS["bob=,admin"], role=Role.ADMIN, iterations=4096),
    create_user("carol", PASSWORDS["carol"], enabled=False, iterations=4096),
]
with open("scram_users.json", "w") as f:
    json.dump([user_to_dict(u) for u in users], f, indent=2)
    f.write("\n")

user = users[1]
creds = user.credentials
first = scram_client_first(user.username)
state = HandshakeState(username=user.username, server_nonce="", salt=creds.salt,
                       iterations=creds.iterations, stored_key=creds.stored_key,
                       server_key=creds.server_key)
handshakes = {"hello": state}
step1 = _parse_header_params(
    scram_step1(handshakes, "hello", state, first.client_first_msg).headers["WWW-Authenticate"])
server_first = _b64url_decode(step1["data"]).decode()
final = scram_client_final(PASSWORDS[user.username], first, server_first)
step2 = _parse_header_params(
    scram_step2(handshakes, {}, step1["handshakeToken"], state, final.client_final_msg)
    .headers["Authentication-Info"])
server_final = _b64url_decode(step2["data"]).decode()
verify_server_signature(final, server_final)

with open("scram_transcript.json", "w") as f:
    json.dump({
        "username": user.username,
        "password": PASSWORDS[user.username],
        "client_nonce": first.c_nonce,
        "client_first": first.client_first_msg,
        "server_first": server_first,
        "client_final": final.client_final_msg,
        "server_final": server_final,
        "passwords": PASSWORDS,
    }, f, indent=2)
    f.write("\n")
