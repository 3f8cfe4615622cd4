"""Where evidence is kept: the workspace's local folder (the default) or an S3-compatible bucket.

Evidence is always written first into the workspace's ``evidence/`` folder, which stays the
working area (content-addressed files once written, WARC files appended while a step runs).
With ``VETTING_EVIDENCE_URL=s3://bucket/prefix`` each file, once final (a content-addressed file
once written, a WARC file when sealed), is hashed, uploaded under its content address
``prefix/sha256/<hex>``, checked by a HEAD (size, recorded sha256, and the ETag where it is an
MD5), and only then is the event naming it recorded: an upload that fails raises, the step
attempt fails and is retried, and nothing names an object the bucket does not hold.

An event's recorded sha256 is therefore also the object's name: verification and reports read
the object ``prefix/sha256/<recorded sha256>`` from the bucket, streamed and hashed, and never
trust the local copy (audit/verify.py takes the :class:`S3Store` as its evidence source).
Erasing a candidate removes their objects too, every version (vetting/store/erasure.py), unless the
bucket's Object Lock retention refuses it.

Settings (environment): ``VETTING_EVIDENCE_URL`` (``s3://bucket[/prefix]``; unset or a plain
folder = the local folder), ``VETTING_S3_ENDPOINT_URL`` (an S3-compatible endpoint such as MinIO,
Ceph or a test's moto_server; unset = AWS), and boto3's own ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` / ``AWS_PROFILE``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

READ_CHUNK = 1 << 20
ENV_URL = "VETTING_EVIDENCE_URL"
ENV_ENDPOINT = "VETTING_S3_ENDPOINT_URL"


class EvidenceStoreError(OSError):
    """The evidence store is misconfigured, or an object could not be stored or read."""


def _hash_file(path: Path) -> tuple[str, str, int]:
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), md5.hexdigest(), size


class LocalStore:
    """Today's behaviour: the workspace's evidence folder is the store; nothing is uploaded."""

    remote = False
    url = ""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_file(self, path: Path, sha256: str) -> str | None:
        """A final evidence file (already in the folder): nothing more to do."""
        return None

    def read(self, rel: str, sha256: str) -> bytes:
        return (self.root / rel).read_bytes()


class S3Store:
    """An S3-compatible bucket holding every final evidence file under ``prefix/sha256/<hex>``."""

    remote = True

    def __init__(self, url: str, root: Path, *, endpoint_url: str | None = None, client: Any = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise EvidenceStoreError(f"{ENV_URL}={url!r}: expected s3://bucket/prefix")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self.root = root
        self.endpoint_url = endpoint_url
        self._client = client
        self._cache: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url or None,
                                        config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                      connect_timeout=10, read_timeout=60))
        return self._client

    def key(self, sha256: str) -> str:
        name = f"sha256/{sha256.lower()}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def name(self, sha256: str) -> str:
        """How problems name an object: ``s3://bucket/prefix/sha256/<hex>``."""
        return f"s3://{self.bucket}/{self.key(sha256)}"

    # -- writing --------------------------------------------------------------------------
    def put_file(self, path: Path, sha256: str) -> str:
        """Upload a final evidence file under its content address and check it landed.

        ``sha256`` is what the caller will record; the file is hashed again here, so what is
        uploaded is what is recorded. An object already there with that size and sha256 is kept
        (content addressing: the same bytes). Raises :class:`EvidenceStoreError` on any failure.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        got, md5, size = _hash_file(path)
        if got != sha256.lower():
            raise EvidenceStoreError(f"{path.name} changed before upload (sha256 {got}, to record {sha256})")
        key = self.key(got)
        try:
            if self._landed(key, got, size, None):
                return key
            with open(path, "rb") as body:
                self._send(key, body, size, got)
            if not self._landed(key, got, size, md5):
                raise EvidenceStoreError(f"s3://{self.bucket}/{key}: the stored object does not match what was "
                                         "uploaded (size, sha256 or ETag)")
        except (BotoCoreError, ClientError, OSError) as exc:
            raise EvidenceStoreError(f"uploading {path.name} to s3://{self.bucket}/{key}: "
                                     f"{type(exc).__name__}: {exc}") from exc
        return key

    def _send(self, key: str, body: BinaryIO, size: int, sha256: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentLength=size, Metadata={"sha256": sha256})

    def _landed(self, key: str, sha256: str, size: int, md5: str | None) -> bool:
        """Whether the object is there with this size and sha256 (and MD5 ETag, when given)."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        if int(head.get("ContentLength", -1)) != size or head.get("Metadata", {}).get("sha256") != sha256:
            return False
        etag = str(head.get("ETag", "")).strip('"')
        return md5 is None or "-" in etag or etag == md5  # a multipart ETag is not an MD5

    # -- reading (verification, reports) ----------------------------------------------------
    def open_object(self, sha256: str) -> BinaryIO | None:
        """The object's bytes as a stream, or None when the bucket has no such object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise EvidenceStoreError(f"reading {self.name(sha256)}: {exc}") from exc
        except BotoCoreError as exc:
            raise EvidenceStoreError(f"reading {self.name(sha256)}: {exc}") from exc

    def chunks(self, sha256: str) -> Iterator[bytes] | None:
        body = self.open_object(sha256)
        if body is None:
            return None

        def read() -> Iterator[bytes]:
            try:
                while chunk := body.read(READ_CHUNK):
                    yield chunk
            finally:
                body.close()
        return read()

    def cached(self, sha256: str) -> Path:
        """The object, downloaded once into a private temporary folder kept until the process ends
        (reports read several records of one sealed WARC file)."""
        if self._cache is None:
            import tempfile

            self._cache = tempfile.TemporaryDirectory(prefix="vet-evidence-")
        dest = Path(self._cache.name) / sha256.lower()
        if not dest.exists():
            part = dest.with_name(dest.name + ".part")
            if not self.download(sha256, part):
                raise FileNotFoundError(f"no object {self.name(sha256)}")
            got, _, _ = _hash_file(part)
            if got != sha256.lower():
                raise EvidenceStoreError(f"object {self.name(sha256)} changed since it was sealed (sha256 {got})")
            part.replace(dest)
        return dest

    def download(self, sha256: str, dest: Path) -> bool:
        """Stream the object into ``dest``; False when the bucket has no such object."""
        chunks = self.chunks(sha256)
        if chunks is None:
            return False
        with open(dest, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        return True

    def read(self, rel: str, sha256: str) -> bytes:
        """A recorded evidence file's bytes, from the bucket (``rel`` only names it in errors)."""
        chunks = self.chunks(sha256)
        if chunks is None:
            raise FileNotFoundError(f"{rel}: no object {self.name(sha256)}")
        return b"".join(chunks)

    def delete(self, sha256: str) -> str | None:
        """Remove the object and every version of it; None when gone, else why it stays (Object
        Lock retention, no permission: the bucket refuses, as configured)."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(sha256)
        try:
            pages = self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key)
            for page in pages:
                for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    if version["Key"] == key:
                        self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version["VersionId"])
            self.client.delete_object(Bucket=self.bucket, Key=key)
            if self.open_object(sha256) is not None:
                return "still readable after deletion"
        except (BotoCoreError, ClientError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None


def store_for(root: Path, url: str | None = None) -> LocalStore | S3Store:
    """The store the environment names for a workspace's evidence folder ``root``."""
    url = url if url is not None else os.environ.get(ENV_URL, "")
    if not url.strip():
        return LocalStore(root)
    if not url.startswith("s3://"):
        raise EvidenceStoreError(f"{ENV_URL}={url!r}: only s3://bucket/prefix is supported (unset it for the "
                                 "workspace's local evidence folder)")
    return S3Store(url.strip(), root, endpoint_url=os.environ.get(ENV_ENDPOINT) or None)
