"""A store in S3 (or any S3-API server: MinIO on kind, moto in the tests), through boto3.

Credentials come from boto3's default chain (IRSA on EKS, environment variables or a profile locally); the endpoint
from ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, which botocore reads natively (since 1.31), so nothing here
needs to know whether it talks to AWS or a local server.

Integrity: every object carries the SHA-256 of its whole content in its metadata (``x-amz-meta-sha256``) and is
sent with ``ChecksumAlgorithm='SHA256'``, so S3 itself rejects a body damaged in transit (per part for multipart
uploads). Reads verify the bytes against the stored digest. A PUT is atomic by nature: readers see the old object
or the new one, never half of it; multipart uploads become visible only when completed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import boto3
import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from multilevel.errors import ConfigError, StageError, TransientError
from multilevel.stage.base import Store, sha256_bytes, sha256_file

log = logging.getLogger(__name__)

MB = 1024 * 1024
# Files above the threshold go in parts, several at once; a failed part is retried alone, not the whole file.
MULTIPART_THRESHOLD = 64 * MB
MULTIPART_CHUNK = 16 * MB
META_SHA256 = "sha256"

# Error codes that mean "try again later" rather than "this will never work".
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
    "502",
    "504",
}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


def _error_code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Store(Store):
    """Objects below ``s3://bucket/prefix``."""

    def __init__(
        self,
        url: str,
        *,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        multipart_chunk: int = MULTIPART_CHUNK,
        max_attempts: int = 5,
    ):
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ConfigError(f"S3 stage URL {url!r} must look like s3://bucket/prefix")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        # 'standard' retry mode retries throttling, 5xx and connection errors with backoff before we see them.
        self.client = boto3.client(
            "s3", config=Config(retries={"mode": "standard", "max_attempts": max_attempts})
        )
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunk, max_concurrency=4
        )

    # --- helpers -----------------------------------------------------------------------------------------------
    def _key(self, key: str) -> str:
        key = key.strip("/")
        if not key or any(part in ("", ".", "..") for part in key.split("/")):
            raise StageError(f"bad stage key {key!r} below {self.url}: use a/b/c.parquet style keys")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, error: Exception, action: str, key: str) -> Exception:
        """Turn a boto3 error into ours: transient (exit 75, retried later) or terminal, naming the object."""
        where = self.url_for(key) if key else self.url
        if isinstance(error, botocore.exceptions.NoCredentialsError):
            return ConfigError(
                f"no AWS credentials to {action} {where}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE, or give the pod an IAM role (IRSA)"
            )
        if isinstance(error, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
            endpoint = self.client.meta.endpoint_url
            return TransientError(
                f"S3 unreachable ({endpoint}) while trying to {action} {where}: {error}; run again later"
            )
        if isinstance(error, botocore.exceptions.ClientError):
            code = _error_code(error)
            if code in _TRANSIENT_CODES:
                return TransientError(
                    f"S3 is busy ({code}) while trying to {action} {where}; run again later"
                )
            if code in _MISSING_CODES:
                return StageError(f"{where} does not exist; did the step that writes it run?")
            if code == "NoSuchBucket":
                return StageError(
                    f"bucket {self.bucket} does not exist: create it or fix MULTILEVEL_STAGE_URL"
                )
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return StageError(
                    f"access denied to {action} {where} ({code}): check the IAM role or credentials"
                )
            return StageError(f"S3 refused to {action} {where}: {code or error}")
        if isinstance(error, boto3.exceptions.S3UploadFailedError):
            text = str(error)
            if any(code in text for code in _TRANSIENT_CODES):
                return TransientError(f"S3 upload of {where} failed, run again later: {text}")
            return StageError(f"S3 upload of {where} failed: {text}")
        return StageError(f"S3 failed to {action} {where}: {error}")

    def _head(self, key: str) -> dict | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED")
        except botocore.exceptions.ClientError as e:
            if _error_code(e) in _MISSING_CODES:
                log.debug("s3 head %s: missing", self.url_for(key))
                return None
            raise self._fail(e, "inspect", key) from e
        except botocore.exceptions.BotoCoreError as e:
            raise self._fail(e, "inspect", key) from e
        log.debug("s3 head %s: %d bytes", self.url_for(key), head["ContentLength"])
        return head

    @staticmethod
    def _digest_from_head(head: dict) -> str | None:
        """The content's SHA-256 hex: our metadata, else S3's own full-object checksum (single-part uploads)."""
        digest = head.get("Metadata", {}).get(META_SHA256)
        if digest:
            return digest
        s3_checksum = head.get("ChecksumSHA256")
        if (
            s3_checksum
            and "-" not in s3_checksum
            and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
        ):
            return base64.b64decode(s3_checksum).hex()
        return None

    def _verify(self, key: str, expected: str | None, actual: str) -> None:
        if expected and expected != actual:
            raise StageError(
                f"{self.url_for(key)} is corrupt: sha256 {actual} but it was written with {expected}. "
                "Re-stage the file (new run id)."
            )

    # --- the Store interface -----------------------------------------------------------------------------------
    def write_bytes(self, key: str, data: bytes) -> None:
        digest = sha256_bytes(data)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ChecksumAlgorithm="SHA256",
                Metadata={META_SHA256: digest},
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._fail(e, "write", key) from e
        log.info("s3 put %s: %d bytes, sha256 %s", self.url_for(key), len(data), digest[:16])

    def upload(self, key: str, local_path: str | Path) -> None:
        digest = sha256_file(local_path)
        size = os.path.getsize(local_path)
        try:
            self.client.upload_file(
                str(local_path),
                self.bucket,
                self._key(key),
                Config=self.transfer,
                ExtraArgs={"Metadata": {META_SHA256: digest}, "ChecksumAlgorithm": "SHA256"},
            )
        except (
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            boto3.exceptions.S3UploadFailedError,
        ) as e:
            raise self._fail(e, "upload", key) from e
        parts = "multipart" if size >= self.transfer.multipart_threshold else "single part"
        log.info("s3 upload %s: %d bytes (%s), sha256 %s", self.url_for(key), size, parts, digest[:16])

    def read_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            data = response["Body"].read()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._fail(e, "read", key) from e
        digest = sha256_bytes(data)
        self._verify(key, response.get("Metadata", {}).get(META_SHA256), digest)
        log.info("s3 get %s: %d bytes", self.url_for(key), len(data))
        return data

    def download(self, key: str, local_path: str | Path) -> None:
        head = self._head(key)
        if head is None:
            raise StageError(f"{self.url_for(key)} does not exist; did the step that writes it run?")
        target = Path(local_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        os.close(fd)
        try:
            try:
                self.client.download_file(self.bucket, self._key(key), tmp, Config=self.transfer)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                raise self._fail(e, "download", key) from e
            self._verify(key, self._digest_from_head(head), sha256_file(tmp))
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        log.info("s3 download %s: %d bytes to %s", self.url_for(key), head["ContentLength"], target)

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise StageError(f"{self.url_for(key)} does not exist; did the step that writes it run?")
        return int(head["ContentLength"])

    def local_path(self, key: str) -> None:
        return None  # remote: readers download the object

    def list(self, prefix: str = "") -> list[str]:
        # Folder semantics: a prefix names an object or a "directory", never a partial name ("run1" != "run10").
        base = self._key(prefix) + "/" if prefix.strip("/") else (f"{self.prefix}/" if self.prefix else "")
        keys: list[str] = []
        try:
            if prefix.strip("/") and self._head(prefix) is not None:
                keys.append(prefix.strip("/"))
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base
            ):
                strip = len(self.prefix) + 1 if self.prefix else 0
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._fail(e, "list", prefix) from e
        log.debug("s3 list %s: %d keys", self.url_for(prefix) if prefix else self.url, len(keys))
        return sorted(keys)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            try:
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                raise self._fail(e, "delete", keys[start]) from e
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise StageError(f"S3 refused to delete {len(errors)} object(s), e.g. s3://{self.bucket}/"
                                 f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}")
        log.debug("s3 delete: %d keys below %s", len(keys), self.url)

    def checksum(self, key: str) -> str:
        head = self._head(key)
        if head is None:
            raise StageError(f"{self.url_for(key)} does not exist")
        digest = self._digest_from_head(head)
        if digest:
            return digest
        # Written by something else without our metadata (and in parts): hash the content itself.
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            hasher = hashlib.sha256()
            for block in iter(lambda: body.read(MB), b""):
                hasher.update(block)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._fail(e, "read", key) from e
        log.info("s3 get %s: hashed %d bytes (no stored checksum)", self.url_for(key), head["ContentLength"])
        return hasher.hexdigest()
