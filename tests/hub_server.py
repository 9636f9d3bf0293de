"""A loopback stand-in for the Hugging Face Hub, so that pushes and loads run through the real clients.

It speaks the part of the Hub's HTTP protocol that `huggingface_hub` 2.x, `datasets` and
`transformers` use to create a repo, upload (preupload, LFS batch with the basic transfer, ndjson
commit), list (tree, paths-info, repo info, refs), tag and download (resolve) files. Repositories
live in memory. The server listens on 127.0.0.1 only, limits request bodies, and shuts itself down
after `lifetime_s` even if nobody stops it.

`connect_clients` points the already imported clients at it (their endpoints are read at import)
and refuses any connection to another host for the duration of a test.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

FAKE_TOKEN = "hf_loopbackFakeToken0123456789"
"""The token the tests hand to the clients; it must never appear in a pushed file or a log."""
MAX_BODY_BYTES = 256 * 1024 * 1024
LFS_SUFFIXES = (".parquet", ".arrow", ".safetensors", ".bin", ".pt", ".pth", ".png", ".jpg", ".jpeg", ".npy", ".zip")
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES).encode()
_REPO = r"(?P<repo>[^/]+/[^/]+)"
_API = rf"^/api/(?P<type>model|dataset|space)s/{_REPO}"
_URL_PREFIX = r"^/(?:(?P<prefix>datasets|spaces)/)?"


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass(frozen=True)
class Blob:
    content: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def pointer(self) -> bytes:
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.content)}\n"
        ).encode()

    @property
    def git_oid(self) -> str:
        """The git object id: of the LFS pointer for LFS files, as on the Hub."""
        return git_blob_oid(self.pointer if self.lfs else self.content)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_oid


@dataclass
class Commit:
    oid: str
    title: str
    parent: str | None
    files: dict[str, Blob]
    date: str
    description: str = ""


@dataclass
class Repo:
    type: str  # model, dataset or space
    id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        oid = self.branches.get(revision) or self.tags.get(revision) or revision
        return self.commits.get(oid)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, **payload):
        super().__init__(message)
        self.status, self.message, self.code, self.payload = status, message, code, payload


class LoopbackHub:
    """The server and the repositories it holds; use as a context manager."""

    def __init__(self, token: str, user: str = "tester", lifetime_s: float = 600.0):
        self.token = token
        self.user = user
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, sent the token) of every request
        self.unhandled: list[tuple[str, str]] = []  # requests no route answered
        self.lock = threading.RLock()
        self._commit_counter = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.hub = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-hub", daemon=True
        )
        self._watchdog = threading.Timer(lifetime_s, self.stop)
        self._watchdog.daemon = True

    def __enter__(self) -> LoopbackHub:
        self._thread.start()
        self._watchdog.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._watchdog.cancel()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    # -- what tests inspect ---------------------------------------------------------------------
    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, repo_type: str = "dataset", revision: str = "main") -> dict[str, bytes]:
        """Path -> content of every file at `revision`."""
        commit = self.repo(repo_id, repo_type).resolve(revision)
        return {path: blob.content for path, blob in commit.files.items()}

    def stored_files(self):
        """(repo type/id, commit, path, content) of every file of every commit of every repository, each commit's
        message as the path `(commit message)`, and every uploaded LFS object as `(lfs object)`: all it holds."""
        with self.lock:
            for (repo_type, repo_id), repo in self.repos.items():
                for commit in repo.commits.values():
                    message = f"{commit.title}\n\n{commit.description}".encode()
                    yield f"{repo_type}/{repo_id}", commit.oid, "(commit message)", message
                    for path, blob in commit.files.items():
                        yield f"{repo_type}/{repo_id}", commit.oid, path, blob.content
            for oid, content in self.lfs_objects.items():
                yield "", oid, "(lfs object)", content

    # -- state changes ----------------------------------------------------------------------------
    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                prefix = "" if repo_type == "model" else f"{repo_type}s/"
                raise HubError(409, "You already created this repo", url=f"{self.url}/{prefix}{repo_id}")
            repo = Repo(type=repo_type, id=repo_id, private=private)
            self.repos[(repo_type, repo_id)] = repo
            self._add_commit(repo, "main", "initial commit", {".gitattributes": Blob(GITATTRIBUTES, lfs=False)})
            return repo

    def commit(self, repo: Repo, branch: str, lines: list[dict]) -> Commit:
        with self.lock:
            head_oid = repo.branches.get(branch)
            if head_oid is None:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            header = lines[0]["value"] if lines and lines[0].get("key") == "header" else None
            if header is None:
                raise HubError(400, "the first ndjson line must be the commit header")
            if header.get("parentCommit") not in (None, head_oid):
                raise HubError(412, "parent commit is not the head of the branch")
            files = dict(repo.commits[head_oid].files)
            for line in lines[1:]:
                self._apply(files, line["key"], line["value"])
            return self._add_commit(repo, branch, header["summary"], files, header.get("description") or "")

    def _apply(self, files: dict[str, Blob], key: str, value: dict) -> None:
        path = value["path"]
        if key == "file":
            if value.get("encoding") != "base64":
                raise HubError(400, f"unsupported encoding {value.get('encoding')!r}")
            files[path] = Blob(base64.b64decode(value["content"]), lfs=False)
        elif key == "lfsFile":
            content = self.lfs_objects.get(value["oid"])
            if content is None:
                raise HubError(422, f"LFS object {value['oid']} of {path} was never uploaded")
            files[path] = Blob(content, lfs=True)
        elif key == "deletedFile":
            if files.pop(path, None) is None:
                raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
        elif key == "deletedFolder":
            for name in [p for p in files if p.startswith(path.rstrip("/") + "/")]:
                del files[name]
        else:
            raise HubError(400, f"unknown commit operation {key!r}")

    def _add_commit(self, repo: Repo, branch: str, title: str, files: dict[str, Blob], description: str = "") -> Commit:
        self._commit_counter += 1
        parent = repo.branches.get(branch)
        oid = hashlib.sha1(f"{repo.id}:{parent}:{self._commit_counter}:{uuid.uuid4()}".encode()).hexdigest()
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        commit = Commit(oid=oid, title=title, parent=parent, files=files, date=date, description=description)
        repo.commits[oid] = commit
        repo.branches[branch] = oid
        return commit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections are closed after this many seconds

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # tests read `LoopbackHub.requests` instead of stderr

    @property
    def hub(self) -> LoopbackHub:
        return self.server.hub

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # -- plumbing ---------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        self.hub.requests.append((method, url.path, self._authenticated()))
        try:
            self.body = self._read_body()
            for route_method, pattern, handler in _ROUTES:
                match = pattern.match(url.path)
                if match and route_method in (method, "GET" if method == "HEAD" else None):
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    handler(self, **params)
                    return
            self.hub.unhandled.append((method, url.path))
            raise HubError(404, f"no route for {method} {url.path}")
        except HubError as exc:
            headers = {"X-Error-Message": exc.message}
            if exc.code:
                headers["X-Error-Code"] = exc.code
            self._send_json(exc.status, {"error": exc.message, **exc.payload}, headers)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    self.close_connection = True
                    raise HubError(413, "request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise HubError(413, "request body too large")
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as exc:
            raise HubError(400, f"malformed JSON body: {exc}") from exc

    def _send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, content_type: str = "application/json"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _authenticated(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.hub.token}"

    def _require_token(self) -> None:
        if self.headers.get("Authorization") is None:
            raise HubError(401, "You must be authenticated to do this")
        if not self._authenticated():
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, type: str, repo: str, write: bool = False) -> Repo:  # noqa: A002 - the Hub's name
        if write:
            self._require_token()
        found = self.hub.repos.get((type, repo))
        if found is None or (found.private and not self._authenticated()):
            raise HubError(404 if self._authenticated() else 401, "Repository not found", "RepoNotFound")
        return found

    def _commit(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _repo_url(self, repo: Repo) -> str:
        prefix = "" if repo.type == "model" else f"{repo.type}s/"
        return f"{self.hub.url}/{prefix}{repo.id}"

    # -- API ----------------------------------------------------------------------------------------
    def whoami(self):
        self._require_token()
        self._send_json(
            200,
            {
                "type": "user",
                "name": self.hub.user,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"role": "write"}},
            },
        )

    def validate_yaml(self):
        content = self._json_body().get("content", "")
        match = re.match(r"^---\n(.*?)\n---", content, re.S)
        try:
            yaml.safe_load(match.group(1) if match else "")
        except yaml.YAMLError as exc:
            self._send_json(400, {"errors": [{"message": str(exc)}], "warnings": []})
            return
        self._send_json(200, {"errors": [], "warnings": []})

    def create_repo(self):
        self._require_token()
        payload = self._json_body()
        namespace = payload.get("organization") or self.hub.user
        private = payload.get("visibility", "public") == "private" or bool(payload.get("private"))
        repo = self.hub.create_repo(payload.get("type") or "model", f"{namespace}/{payload['name']}", private)
        self._send_json(200, {"url": self._repo_url(repo), "name": repo.id})

    def repo_info(self, type: str, repo: str, rev: str = "main"):  # noqa: A002
        found = self._repo(type, repo)
        commit = self._commit(found, rev)
        blobs = "blobs" in self.query and self.query["blobs"][0].lower() in ("1", "true")
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(size=len(blob.content), blobId=blob.git_oid)
                if blob.lfs:
                    sibling["lfs"] = {
                        "size": len(blob.content),
                        "sha256": blob.sha256,
                        "pointerSize": len(blob.pointer),
                    }
            siblings.append(sibling)
        info = {
            "_id": found.id,
            "id": found.id,
            "author": found.id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": commit.date,
            "private": found.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "cardData": _front_matter(commit.files.get("README.md")),
        }
        self._send_json(200, info)

    def preupload(self, type: str, repo: str, rev: str):  # noqa: A002
        found = self._repo(type, repo, write=True)
        existing = self._commit(found, rev).files
        answers = []
        for entry in self._json_body()["files"]:
            sample = base64.b64decode(entry["sample"])
            lfs = entry["path"].endswith(LFS_SUFFIXES) or entry["size"] > 10 * 1024 * 1024 or b"\0" in sample
            current = existing.get(entry["path"])
            oid = None if current is None else (current.sha256 if current.lfs else current.git_oid)
            answers.append(
                {"path": entry["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        self._send_json(200, {"files": answers, "commitOid": self._commit(found, rev).oid})

    def lfs_batch(self, repo: str, prefix: str = ""):
        self._repo(prefix[:-1] if prefix else "model", repo, write=True)
        payload = self._json_body()
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(400, "only uploads through the basic transfer are supported")
        objects = []
        for obj in payload["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.hub.lfs_objects:
                answer["actions"] = {"upload": {"href": f"{self.hub.url}/lfs-upload/{obj['oid']}"}}
            objects.append(answer)
        self._send(
            200,
            json.dumps({"transfer": "basic", "objects": objects}).encode(),
            content_type="application/vnd.git-lfs+json",
        )

    def lfs_upload(self, oid: str):
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, f"uploaded content does not match sha256 {oid}")
        with self.hub.lock:
            self.hub.lfs_objects[oid] = self.body
        self._send(200, b"", content_type="text/plain")

    def commit(self, type: str, repo: str, rev: str):  # noqa: A002
        found = self._repo(type, repo, write=True)
        if self.query.get("create_pr"):
            raise HubError(400, "pull requests are not supported by the loopback Hub")
        try:
            lines = [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HubError(400, f"malformed ndjson commit payload: {exc}") from exc
        commit = self.hub.commit(found, rev, lines)
        self._send_json(
            200,
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._repo_url(found)}/commit/{commit.oid}",
                "pullRequestUrl": None,
            },
        )

    def tree(self, type: str, repo: str, rev: str, path: str = ""):  # noqa: A002
        commit = self._commit(self._repo(type, repo), rev)
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        expand = self.query.get("expand", ["false"])[0].lower() in ("1", "true")
        path = path.strip("/")
        if path and path not in _folders(commit.files):
            raise HubError(404, f"{path} does not exist at {rev}", "EntryNotFound")
        prefix = f"{path}/" if path else ""
        entries = []
        for folder in sorted(_folders(commit.files)):
            if folder.startswith(prefix) and (recursive or "/" not in folder[len(prefix) :]):
                entries.append(_folder_entry(folder, commit, expand))
        for name, blob in sorted(commit.files.items()):
            if name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :]):
                entries.append(_file_entry(name, blob, commit, expand))
        self._send_json(200, entries)

    def paths_info(self, type: str, repo: str, rev: str):  # noqa: A002
        commit = self._commit(self._repo(type, repo), rev)
        form = parse_qs(self.body.decode())
        expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
        entries = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit.files:
                entries.append(_file_entry(path, commit.files[path], commit, expand))
            elif path in _folders(commit.files):
                entries.append(_folder_entry(path, commit, expand))
        self._send_json(200, entries)

    def refs(self, type: str, repo: str):  # noqa: A002
        found = self._repo(type, repo)
        self._send_json(
            200,
            {
                "branches": [
                    {"name": n, "ref": f"refs/heads/{n}", "targetCommit": o} for n, o in found.branches.items()
                ],
                "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": o} for n, o in found.tags.items()],
                "converts": [],
            },
        )

    def create_tag(self, type: str, repo: str, rev: str):  # noqa: A002
        found = self._repo(type, repo, write=True)
        commit = self._commit(found, rev)
        tag = self._json_body()["tag"]
        with self.hub.lock:
            if tag in found.tags:
                raise HubError(409, f"tag {tag} already exists")
            found.tags[tag] = commit.oid
        self._send_json(200, {})

    def delete_tag(self, type: str, repo: str, rev: str):  # noqa: A002
        found = self._repo(type, repo, write=True)
        with self.hub.lock:
            if found.tags.pop(rev, None) is None:
                raise HubError(404, f"tag {rev} does not exist", "RevisionNotFound")
        self._send_json(200, {})

    def create_branch(self, type: str, repo: str, rev: str):  # noqa: A002
        found = self._repo(type, repo, write=True)
        start = self._json_body().get("startingPoint") or "main"
        with self.hub.lock:
            if rev in found.branches:
                raise HubError(409, f"branch {rev} already exists")
            found.branches[rev] = self._commit(found, start).oid
        self._send_json(200, {})

    # -- files --------------------------------------------------------------------------------------
    def resolve(self, repo: str, rev: str, path: str, prefix: str = ""):
        found = self._repo(prefix[:-1] if prefix else "model", repo)
        commit = self._commit(found, rev)
        headers = {"X-Repo-Commit": commit.oid}
        blob = commit.files.get(path)
        if blob is None:
            headers.update({"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"})
            self._send_json(404, {"error": "Entry not found"}, headers)
            return
        headers["ETag"] = f'"{blob.etag}"'
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(len(blob.content))})
        content, status = blob.content, 200
        requested = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if requested and self.command == "GET":
            start = int(requested.group(1) or 0)
            end = min(int(requested.group(2)) if requested.group(2) else len(content) - 1, len(content) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            content, status = content[start : end + 1], 206
        self._send(status, content, headers, content_type="application/octet-stream")


def _folders(files: dict[str, Blob]) -> set[str]:
    return {"/".join(name.split("/")[:depth]) for name in files for depth in range(1, name.count("/") + 1)}


def _last_commit(commit: Commit) -> dict:
    return {"id": commit.oid, "title": commit.title, "date": commit.date}


def _file_entry(path: str, blob: Blob, commit: Commit, expand: bool) -> dict:
    entry = {"type": "file", "path": path, "size": len(blob.content), "oid": blob.git_oid}
    if blob.lfs:
        entry["lfs"] = {"oid": blob.sha256, "size": len(blob.content), "pointerSize": len(blob.pointer)}
    if expand:
        entry["lastCommit"] = _last_commit(commit)
    return entry


def _folder_entry(path: str, commit: Commit, expand: bool) -> dict:
    entry = {"type": "directory", "path": path, "oid": hashlib.sha1(f"{commit.oid}:{path}".encode()).hexdigest()}
    if expand:
        entry["lastCommit"] = _last_commit(commit)
    return entry


def _front_matter(blob: Blob | None) -> dict | None:
    match = re.match(r"^---\n(.*?)\n---", blob.content.decode(), re.S) if blob else None
    return yaml.safe_load(match.group(1)) if match else None


_ROUTES = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in [
        ("GET", r"^/api/whoami-v2$", _Handler.whoami),
        ("POST", r"^/api/validate-yaml$", _Handler.validate_yaml),
        ("POST", r"^/api/repos/create$", _Handler.create_repo),
        ("GET", _API + r"(?:/revision/(?P<rev>[^/]+))?$", _Handler.repo_info),
        ("POST", _API + r"/preupload/(?P<rev>[^/]+)$", _Handler.preupload),
        ("POST", _API + r"/commit/(?P<rev>[^/]+)$", _Handler.commit),
        ("GET", _API + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$", _Handler.tree),
        ("POST", _API + r"/paths-info/(?P<rev>[^/]+)$", _Handler.paths_info),
        ("GET", _API + r"/refs$", _Handler.refs),
        ("POST", _API + r"/tag/(?P<rev>[^/]+)$", _Handler.create_tag),
        ("DELETE", _API + r"/tag/(?P<rev>[^/]+)$", _Handler.delete_tag),
        ("POST", _API + r"/branch/(?P<rev>[^/]+)$", _Handler.create_branch),
        ("POST", _URL_PREFIX + _REPO + r"\.git/info/lfs/objects/batch$", _Handler.lfs_batch),
        ("PUT", r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$", _Handler.lfs_upload),
        ("GET", _URL_PREFIX + _REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", _Handler.resolve),
    ]
]


def connect_clients(hub: LoopbackHub, monkeypatch, cache_dir: Path) -> list[str]:
    """Point `huggingface_hub`, `datasets` and `transformers` at `hub` for one test.

    The clients read their endpoint, offline flag and caches once, at import, so the module
    constants are patched as well as the environment. Returns the list into which every refused
    attempt to reach another host is recorded (it should stay empty).
    """
    import datasets.config
    import huggingface_hub.constants as hf_constants
    from huggingface_hub import HfFileSystem
    from huggingface_hub.utils import _http

    cache_dir.mkdir(parents=True, exist_ok=True)
    hub_cache, datasets_cache = cache_dir / "hub", cache_dir / "datasets"
    environment = {
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_TOKEN": hub.token,
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HOME": str(cache_dir),
        "HF_HUB_CACHE": str(hub_cache),
        "HF_DATASETS_CACHE": str(datasets_cache),
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    for name, value in {
        "ENDPOINT": hub.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_CACHE": str(hub_cache),
        "HF_TOKEN_PATH": str(cache_dir / "token"),
        "HF_STORED_TOKENS_PATH": str(cache_dir / "stored_tokens"),
    }.items():
        monkeypatch.setattr(hf_constants, name, value)
    for name, value in {
        "HF_ENDPOINT": hub.url,
        "HUB_DATASETS_URL": hub.url + "/datasets/{repo_id}/resolve/{revision}/{path}",
        "HF_HUB_OFFLINE": False,
        "HF_DATASETS_OFFLINE": False,
        "HF_DATASETS_CACHE": datasets_cache,
        "DOWNLOADED_DATASETS_PATH": datasets_cache / "downloads",
        "EXTRACTED_DATASETS_PATH": datasets_cache / "downloads" / "extracted",
        "HF_UPDATE_DOWNLOAD_COUNTS": False,
        "USE_PARQUET_EXPORT": False,
    }.items():
        monkeypatch.setattr(datasets.config, name, value)

    refused: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", b"127.0.0.1"):
            refused.append(str(host))
            raise OSError(f"the loopback Hub test refuses to reach {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    HfFileSystem.clear_instance_cache()
    _http.close_session()
    return refused
