"""Secret-looking strings the sandbox plants, so redaction tests can prove none of them leaks.

Some appear on purpose in run logs and error bodies (as careless connectors and upstream
services really do echo them); the rest are the stored secrets of seeded credentials, which
the API never renders. Every one of them is listed in `PLANTED_SECRETS`.
"""

from __future__ import annotations

# An expired OAuth access token echoed by a failing REST connector (credential_expired).
EXPIRED_JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhzLW9hdXRoLTIwMjQifQ"
    ".eyJzdWIiOiJodWJzcG90LWFwcC03NzMxMDQiLCJhdWQiOiJjcm0ub2JqZWN0cy5jb250YWN0cy5yZWFkIiwiaWF0Ij"
    "oxNzQxMDY0NDAwLCJleHAiOjE3NDEwNjYyMDAsImh1Yl9pZCI6NDQ3MTg4MzB9"
    ".Tq8mV3xLk2Pz9sRw4NbY7cJf0HdA6uEo1GiK5lMn3QpXr8tWv2ZyBe6Fh9Ds4Ca7"
)
# A database password inside a connection string logged on timeouts (network_timeout).
DB_PASSWORD = "pg_R3plica-Secr3t-7741"
DB_URL = f"postgresql://etl_reader:{DB_PASSWORD}@pg-replica-2.billing.internal:5432/billing"
# AWS keys printed by a connector's debug line before an AccessDenied (permission_denied).
AWS_ACCESS_KEY_ID = "AKIA4SBXQ7RLM2NZ8KTD"
AWS_SECRET_ACCESS_KEY = "r8Jf2kQ9vX/4mTz7Lp1Wc6Hs3Yb0Dn5Ga8Ue2Qi"
# A static API token sent in a request header that a throttled connector logs (rate_limited).
SHOPIFY_TOKEN = "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"

# Stored credential secrets by credentials_type (never rendered by any endpoint).
CREDENTIAL_SECRETS: dict[str, dict[str, str]] = {
    "s3": {"access_key_id": AWS_ACCESS_KEY_ID, "secret_access_key": AWS_SECRET_ACCESS_KEY},
    "gcs": {"private_key": "-----BEGIN PRIVATE KEY-----MIIEvgIBADANBgkqhkiG9w0BAQEFAASC"},
    "postgres": {"password": DB_PASSWORD},
    "mysql": {"password": "My5ql-Inv3ntory-0082"},
    "snowflake": {"password": "Snowfl4ke-Loader-9931"},
    "bigquery": {"private_key": "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASB"},
    "redshift": {"password": "R3dsh1ft-FX-5510"},
    "rest": {
        "access_token": EXPIRED_JWT,
        "refresh_token": "hs-rt-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    },
    "kafka": {"sasl_password": "K4fka-Clickstream-6620"},
    "ftp": {"password": "Sftp-Partner-Feed-3317"},
    "gdrive": {"refresh_token": "1//0gDrive-rt-4Kp9Lm2Nq7Rs"},
}
REST_TOKENS = {"shopify": SHOPIFY_TOKEN}

PLANTED_SECRETS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [EXPIRED_JWT, DB_PASSWORD, DB_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, SHOPIFY_TOKEN]
        + [value for secrets in CREDENTIAL_SECRETS.values() for value in secrets.values()]
    )
)
