"""Drives openstacksdk's image proxy against the gateway; used by tests/clients_openstacksdk.rs.

Usage: python sdk_images.py ENDPOINT TOKEN WORKDIR
  ENDPOINT  the unversioned image root, e.g. http://127.0.0.1:PORT/image
  TOKEN     a gateway token (sent as X-Auth-Token through the admin_token auth plugin)
  WORKDIR   an empty directory for the image file and the download

Steps: connect as ../shared/CLIENTS.md says; create_image with filename (POST /v2/images with
the SDK's owner_specified.openstack.* properties, then PUT …/file); find it in list_images and
by name; download it to a file (the SDK verifies os_hash_value / checksum) and compare the
bytes; delete it; check that it is gone. Prints one JSON summary on stdout and exits 0; any
failure raises (non-zero exit, traceback on stderr).
"""

import hashlib
import json
import os
import sys

import openstack


def main():
    endpoint, token, workdir = sys.argv[1:4]
    # openstacksdk would otherwise read clouds.yaml and OS_* variables from the environment.
    for k in list(os.environ):
        if k.startswith("OS_"):
            del os.environ[k]

    conn = openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": endpoint, "token": token},
        image_endpoint_override=endpoint,
        region_name="RegionOne",
        load_yaml_config=False,
        load_envvars=False,
    )

    # Every HTTP exchange, as "METHOD path STATUS", so the test can tell how the SDK talked.
    calls = []

    def record(resp, *args, **kwargs):
        req = resp.request
        path = req.path_url.split("?", 1)[0]
        calls.append(f"{req.method} {path} {resp.status_code}")

    conn.session.session.hooks["response"].append(record)

    data = os.urandom(3 * 1024 * 1024 + 12345)
    src = os.path.join(workdir, "upload.img")
    with open(src, "wb") as f:
        f.write(data)
    name = "sdk-image"

    image = conn.image.create_image(
        name=name,
        filename=src,
        disk_format="qcow2",
        container_format="bare",
        wait=True,
        timeout=60,
        validate_checksum=True,
        os_distro="cirros",
        sdk_note="made by sdk_images.py",
    )
    created = conn.image.get_image(image.id)

    listed = [i for i in conn.image.images() if i.id == image.id]
    by_name = conn.image.find_image(name)
    filtered = [i.id for i in conn.image.images(os_distro="cirros")]
    not_filtered = [i.id for i in conn.image.images(os_distro="other")]

    out = os.path.join(workdir, "download.img")
    conn.image.download_image(created, output=out)
    with open(out, "rb") as f:
        downloaded = f.read()

    # Into memory too (a second code path: the response body, not a stream to a file).
    in_memory = conn.image.download_image(created).content

    conn.image.delete_image(image.id, ignore_missing=False)
    after_delete = conn.image.find_image(image.id, ignore_missing=True)
    still_listed = [i.id for i in conn.image.images() if i.id == image.id]
    try:
        conn.image.get_image(image.id)
        missing_error = None
    except openstack.exceptions.NotFoundException as e:
        missing_error = str(e)

    props = created.properties or {}
    summary = {
        "id": created.id,
        "name": created.name,
        "status": created.status,
        "disk_format": created.disk_format,
        "container_format": created.container_format,
        "size": created.size,
        "checksum": created.checksum,
        "hash_algo": created.hash_algo,
        "hash_value": created.hash_value,
        "expected_size": len(data),
        "expected_md5": hashlib.md5(data).hexdigest(),
        "expected_sha256": hashlib.sha256(data).hexdigest(),
        "expected_sha512": hashlib.sha512(data).hexdigest(),
        "owner_specified_md5": props.get("owner_specified.openstack.md5"),
        "owner_specified_sha256": props.get("owner_specified.openstack.sha256"),
        "owner_specified_object": props.get("owner_specified.openstack.object"),
        "os_distro": created.os_distro,
        "sdk_note": props.get("sdk_note"),
        "listed": len(listed),
        "found_by_name": by_name.id if by_name else None,
        "filtered_by_property": filtered,
        "filtered_out_by_property": not_filtered,
        "download_matches": downloaded == data,
        "download_size": len(downloaded),
        "in_memory_matches": in_memory == data,
        "found_after_delete": after_delete.id if after_delete else None,
        "listed_after_delete": len(still_listed),
        "missing_error": missing_error,
        "calls": calls,
    }
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
