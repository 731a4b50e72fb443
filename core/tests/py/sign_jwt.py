#!/usr/bin/env python3
"""Signs an RS256 token with PyJWT, so kuma_core::tokens can be checked against a foreign issuer.

Usage: sign_jwt.py PRIVATE_KEY_PEM_FILE KID CLAIMS_JSON
Prints the compact token. The claims are used as given (registered claims included).
"""
import json
import sys

import jwt


def main() -> None:
    key_file, kid, claims = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    with open(key_file, "rb") as f:
        private_key = f.read()
    print(jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid}))


if __name__ == "__main__":
    main()
