"""Google's token endpoints for tests: OAuth 2.0 token, STS token exchange and IAM Credentials generateIdToken.

Every ID token is signed (RS256) with a key this module generates for the test, never Google's; the Cloud Run
emulator verifies requests with its public key. Shapes, one per line, with their source:

- POST /token, grant_type=refresh_token -> {access_token, expires_in, scope, token_type, id_token}: documented,
  developers.google.com/identity/protocols/oauth2/web-server#offline ("Refreshing an access token"); google-auth
  reads `id_token` from it (google/oauth2/_client.py `refresh_grant`).
- POST /token, grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, an assertion carrying `target_audience`
  -> {id_token}: documented, developers.google.com/identity/protocols/oauth2/service-account and google-auth's
  google/oauth2/_client.py `id_token_jwt_grant`; the assertion's aud is https://oauth2.googleapis.com/token
  (documented, same page: "aud ... always https://oauth2.googleapis.com/token").
- OAuth 2.0 errors {error, error_description} with 400: documented, RFC 6749 section 5.2.
- POST /v1/token (STS), grant_type=urn:ietf:params:oauth:grant-type:token-exchange, form fields audience,
  subject_token, subject_token_type, requested_token_type, scope -> {access_token, issued_token_type,
  token_type, expires_in}: documented, cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token.
- POST /v1/projects/-/serviceAccounts/EMAIL:generateIdToken {audience, includeEmail, delegates} -> {token}:
  documented, cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateIdToken.
- IAM errors as google.rpc.Status JSON {error: {code, message, status}} (google_errors.py): documented,
  cloud.google.com/apis/design/errors.
- ID token claims iss https://accounts.google.com, aud, azp, sub, email, email_verified, iat, exp, header kid:
  documented, developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload.
- A federated (STS) token may call generateIdToken for the service account it impersonates: documented for
  roles/iam.workloadIdentityUser, cloud.google.com/iam/docs/workload-identity-federation; who may impersonate
  whom is not checked here (assumed: every known access token may).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.support.google_errors import status_error
from tests.support.http_emulator import HttpEmulator, JsonHandler

ISSUER = "https://accounts.google.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
POOL = "ci/providers/github"


def rsa_key_pem() -> tuple[str, str]:
    """A fresh RSA key: (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def sign(private_pem: str, key_id: str, payload: dict[str, Any]) -> str:
    from google.auth import crypt, jwt

    signer = crypt.RSASigner.from_string(private_pem, key_id)
    return jwt.encode(signer, payload).decode()


def verify(token: str, public_pems: dict[str, str], audience: str | list[str] | None = None) -> dict[str, Any]:
    """Claims of a token signed by one of `public_pems` (kid -> PEM); raises ValueError otherwise."""
    from google.auth import jwt

    claims: dict[str, Any] = jwt.decode(token, certs=public_pems, audience=audience)
    return claims


@dataclass
class TokenEndpoints(HttpEmulator):
    """The three endpoints, the accounts they know, and the tokens they issued."""

    google_key: tuple[str, str] = field(default_factory=rsa_key_pem)
    google_kid: str = field(default_factory=lambda: uuid.uuid4().hex)
    service_account_keys: dict[str, str] = field(default_factory=dict)  # key id -> public PEM
    service_account_of_key: dict[str, str] = field(default_factory=dict)  # key id -> email
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # refresh token -> (email, client_id)
    subject_tokens: dict[str, str] = field(default_factory=dict)  # external subject token -> principal
    access_tokens: dict[str, str] = field(default_factory=dict)  # access token -> principal
    requests: list[str] = field(default_factory=list)  # paths asked, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._listen(_handler_for(self), "google-tokens")

    @property
    def url(self) -> str:
        return self.endpoint

    @property
    def public_keys(self) -> dict[str, str]:
        """What a verifier of Google ID tokens needs: kid -> public PEM."""
        return {self.google_kid: self.google_key[1]}

    # --- credential files a test hands to loopctl ----------------------------------------------

    def service_account_file(self, email: str) -> dict[str, Any]:
        """A service account key file (the JSON `gcloud iam service-accounts keys create` writes)."""
        private, public = rsa_key_pem()
        key_id = uuid.uuid4().hex
        with self.lock:
            self.service_account_keys[key_id] = public
            self.service_account_of_key[key_id] = email
        return {
            "type": "service_account",
            "project_id": email.split("@", 1)[1].split(".", 1)[0],
            "private_key_id": key_id,
            "private_key": private,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "token_uri": f"{self.url}/token",
        }

    def user_file(self, email: str) -> dict[str, Any]:
        """What `gcloud auth application-default login` writes, with a token_uri pointing here."""
        refresh_token = "1//" + secrets.token_urlsafe(24)
        client_id = "764086051850-test.apps.googleusercontent.com"
        with self.lock:
            self.users[refresh_token] = (email, client_id)
        return {
            "type": "authorized_user",
            "client_id": client_id,
            "client_secret": secrets.token_urlsafe(12),
            "refresh_token": refresh_token,
            "token_uri": f"{self.url}/token",
        }

    def impersonated_file(self, user_email: str, target: str) -> dict[str, Any]:
        """What `gcloud auth application-default login --impersonate-service-account TARGET` writes."""
        return {
            "type": "impersonated_service_account",
            "service_account_impersonation_url": self.impersonation_url(target),
            "source_credentials": self.user_file(user_email),
            "delegates": [],
        }

    def federation_file(self, subject_token_path: str, subject: str, target: str) -> dict[str, Any]:
        """What `gcloud iam workload-identity-pools create-cred-config ... --service-account TARGET` writes."""
        with open(subject_token_path) as source:
            subject_token = source.read().strip()
        with self.lock:
            self.subject_tokens[subject_token] = f"principal://{subject}"
        return {
            "type": "external_account",
            "audience": f"//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/{POOL}",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": f"{self.url}/v1/token",
            "service_account_impersonation_url": self.impersonation_url(target),
            "credential_source": {"file": subject_token_path},
        }

    def impersonation_url(self, target: str) -> str:
        return f"{self.url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"

    # --- minting -------------------------------------------------------------------------------

    def id_token(self, *, email: str, audience: str, azp: str | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "azp": azp or email,
            "sub": str(abs(hash(email)) % 10**21),
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        return sign(self.google_key[0], self.google_kid, claims)

    def _access_token(self, principal: str) -> str:
        token = "ya29." + secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens[token] = principal
        return token

    # --- endpoints -----------------------------------------------------------------------------

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(path)
        if path == "/token":
            return self._oauth_token({key: values[0] for key, values in parse_qs(raw.decode()).items()})
        if path == "/v1/token":
            return self._sts_token({key: values[0] for key, values in parse_qs(raw.decode()).items()})
        if path.startswith("/v1/projects/-/serviceAccounts/") and path.endswith(":generateIdToken"):
            target = unquote(path.removeprefix("/v1/projects/-/serviceAccounts/").removesuffix(":generateIdToken"))
            return self._generate_id_token(target, headers.get("authorization", ""), json.loads(raw or b"{}"))
        return 404, status_error(404, f"{path} is not part of this emulator.")

    def _oauth_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type")
        if grant == "refresh_token":
            user = self.users.get(form.get("refresh_token", ""))
            if user is None:
                return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            email, client_id = user
            return 200, {
                "access_token": self._access_token(f"user:{email}"),
                "expires_in": 3599,
                "scope": "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/cloud-platform",
                "token_type": "Bearer",
                "id_token": self.id_token(email=email, audience=client_id, azp=client_id),
            }
        if grant == JWT_GRANT:
            return self._service_account_grant(form.get("assertion", ""))
        return 400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant}"}

    def _service_account_grant(self, assertion: str) -> tuple[int, dict[str, Any]]:
        try:
            # The assertion's audience is Google's token endpoint wherever it is sent (google-auth sets it).
            claims = verify(assertion, self.service_account_keys, audience="https://oauth2.googleapis.com/token")
        except ValueError:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        email = str(claims.get("iss", ""))
        if claims.get("target_audience"):
            return 200, {"id_token": self.id_token(email=email, audience=str(claims["target_audience"]))}
        return 200, {"access_token": self._access_token(f"serviceAccount:{email}"), "expires_in": 3599}

    def _sts_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != EXCHANGE_GRANT:
            return 400, {"error": "invalid_request", "error_description": "Invalid grant_type."}
        principal = self.subject_tokens.get(form.get("subject_token", ""))
        if principal is None:
            return 400, {"error": "invalid_grant", "error_description": "The given subject token is not valid."}
        return 200, {
            "access_token": self._access_token(principal),
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3599,
        }

    def _generate_id_token(self, target: str, authorization: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        caller = self.access_tokens.get(authorization.removeprefix("Bearer ").strip())
        if caller is None:
            return 401, status_error(401, "Request had invalid authentication credentials.")
        if not body.get("audience"):
            return 400, status_error(400, "Audience is required.")
        return 200, {"token": self.id_token(email=target, audience=str(body["audience"]))}


def _handler_for(endpoints: TokenEndpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            raw = self.read_body()
            status, answer = endpoints.answer(self.path.split("?", 1)[0], self.lower_headers(), raw)
            self.send_json(status, answer, content_type="application/json; charset=utf-8")

    return Handler
