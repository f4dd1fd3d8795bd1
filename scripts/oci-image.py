#!/usr/bin/env python3
"""Assembles Berth's container image as an OCI image layout, without a container engine.

Called by scripts/build-image with a built `berth` binary. The image has two layers, so that a new
Berth version only ships a new top layer:
  1. base: the shared libraries the binary needs (found with ldd), the dynamic loader, CA
     certificates, /etc/passwd and /etc/group with the unprivileged user, /tmp, /var/lib/berth;
  2. berth: /usr/local/bin/berth and /etc/berth/config.yml.
Entries are sorted and carry fixed owners and mtimes (SOURCE_DATE_EPOCH, default 0) and gzip headers
carry no time, so the same inputs give the same layer digests; only the `created` time differs.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

UID = GID = 10000
USER = "berth"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def shared_libraries(binary):
    """The absolute paths of the libraries the binary loads, the dynamic loader included."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    paths = []
    for line in out.splitlines():
        if "not found" in line:
            sys.exit(f"oci-image: {binary} needs a library this machine lacks: {line.strip()}")
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m:
            paths.append(m.group(1))
    return paths


class Layer:
    """A tar layer built in memory; entries are added in any order and written sorted."""

    def __init__(self, mtime):
        self.mtime = mtime
        self.entries = {}

    def _info(self, name, kind, mode, uid=0, gid=0):
        info = tarfile.TarInfo(name.lstrip("/"))
        info.type, info.mode, info.mtime = kind, mode, self.mtime
        info.uid, info.gid = uid, gid
        info.uname = info.gname = ""
        return info

    def directory(self, name, mode=0o755, uid=0, gid=0):
        # Parents first: a layer without them makes some unpackers create them root-only.
        if not name.strip("/"):
            return  # the root itself has no entry
        parts = name.strip("/").split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            self.entries.setdefault(parent, (self._info(parent, tarfile.DIRTYPE, 0o755), None))
        self.entries[name.strip("/")] = (self._info(name, tarfile.DIRTYPE, mode, uid, gid), None)

    def file(self, name, data, mode=0o644):
        self.directory(os.path.dirname(name))
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = len(data)
        self.entries[name.strip("/")] = (info, data)

    def symlink(self, name, target):
        self.directory(os.path.dirname(name))
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.entries[name.strip("/")] = (info, None)

    def build(self):
        """(uncompressed tar, gzip-compressed tar)."""
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self.entries):
                info, data = self.entries[name]
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        tar_bytes = raw.getvalue()
        packed = io.BytesIO()
        with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=6, mtime=0) as gz:
            gz.write(tar_bytes)
        return tar_bytes, packed.getvalue()


def base_layer(binary, mtime):
    layer = Layer(mtime)
    # Debian's merged /usr: /lib and /lib64 are links into /usr, as the host's paths from ldd expect.
    layer.symlink("/lib", "usr/lib")
    layer.symlink("/lib64", "usr/lib64")
    for path in shared_libraries(binary):
        real = os.path.realpath(path)
        with open(real, "rb") as f:
            data = f.read()
        inside = "/usr" + path if path.startswith(("/lib/", "/lib64/")) else path
        # Under the name the loader looks for (the soname; /lib64/ld-linux-x86-64.so.2 for the loader
        # itself, as the binary's PT_INTERP asks), not the versioned file the host's link points at.
        layer.file(inside, data, 0o755)
    with open("/etc/ssl/certs/ca-certificates.crt", "rb") as f:
        layer.file("/etc/ssl/certs/ca-certificates.crt", f.read())
    layer.file("/etc/passwd", f"root:x:0:0:root:/root:/sbin/nologin\n{USER}:x:{UID}:{GID}:Berth registry:/var/lib/berth:/sbin/nologin\n".encode())
    layer.file("/etc/group", f"root:x:0:\n{USER}:x:{GID}:\n".encode())
    layer.file("/etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    layer.directory("/tmp", 0o1777)
    layer.directory("/var/lib/berth", 0o750, UID, GID)
    return layer


def berth_layer(binary, config_yml, mtime):
    layer = Layer(mtime)
    with open(binary, "rb") as f:
        layer.file("/usr/local/bin/berth", f.read(), 0o755)
    # The Dockerfile copies the same file, so both images start alike.
    with open(config_yml, "rb") as f:
        layer.file("/etc/berth/config.yml", f.read())
    return layer


def write_blob(layout, data):
    digest = sha256(data)
    path = os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": digest, "size": len(data)}


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--config-yml", default=os.path.join(os.path.dirname(__file__), "..", "packaging", "docker", "config.yml"))
    ap.add_argument("--output", required=True, help="OCI layout directory to (re)create")
    ap.add_argument("--tag", default="latest")
    ap.add_argument("--version", required=True)
    ap.add_argument("--revision", default="unknown")
    ap.add_argument("--source", default="unknown")
    ap.add_argument("--licenses", default="NOASSERTION", help="SPDX expression (the repository has no LICENSE file yet)")
    ap.add_argument("--created", required=True, help="RFC 3339 time for the config and label")
    args = ap.parse_args()

    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    os.makedirs(os.path.join(args.output, "blobs", "sha256"), exist_ok=True)
    layers, diff_ids = [], []
    for layer in (base_layer(args.binary, mtime), berth_layer(args.binary, args.config_yml, mtime)):
        tar_bytes, packed = layer.build()
        diff_ids.append(sha256(tar_bytes))
        layers.append(dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", **write_blob(args.output, packed)))

    labels = {
        "org.opencontainers.image.title": "Berth",
        "org.opencontainers.image.description": "A container image registry (OCI Distribution / Docker Registry HTTP API v2)",
        "org.opencontainers.image.version": args.version,
        "org.opencontainers.image.source": args.source,
        "org.opencontainers.image.licenses": args.licenses,
        "org.opencontainers.image.created": args.created,
        "org.opencontainers.image.revision": args.revision,
    }
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": args.created,
        "config": {
            "User": f"{UID}:{GID}",
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "ExposedPorts": {"5000/tcp": {}},
            "Volumes": {"/var/lib/berth": {}},
            "WorkingDir": "/var/lib/berth",
            "Entrypoint": ["/usr/local/bin/berth"],
            "Cmd": ["serve", "/etc/berth/config.yml"],
            "StopSignal": "SIGTERM",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": args.created, "created_by": "scripts/oci-image.py: libraries, CA certificates, user berth"},
            {"created": args.created, "created_by": "scripts/oci-image.py: /usr/local/bin/berth, /etc/berth/config.yml"},
        ],
    }
    config_desc = dict(mediaType="application/vnd.oci.image.config.v1+json", **write_blob(args.output, canonical(config)))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": layers,
        "annotations": {k: v for k, v in labels.items() if k != "org.opencontainers.image.description"},
    }
    manifest_desc = dict(mediaType="application/vnd.oci.image.manifest.v1+json", **write_blob(args.output, canonical(manifest)))
    manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": args.tag}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest_desc]}
    with open(os.path.join(args.output, "index.json"), "wb") as f:
        f.write(canonical(index))
    with open(os.path.join(args.output, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    print(manifest_desc["digest"])


if __name__ == "__main__":
    main()
