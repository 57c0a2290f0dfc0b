#!/usr/bin/python
# -*- coding: utf-8 -*-
"""shadowops.host.files: several small files in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: files
short_description: Write several small files, each only when it differs
description:
  - Writes each file of O(files) with the given content, owner, group and
    mode, atomically (a temporary file in the same directory, then a
    rename), and only when its content or attributes differ.
  - One module run for all of them, where M(ansible.builtin.copy) costs
    three round trips per file. Meant for an env's settings files.
  - The contents are never returned or logged (C(no_log) on the option).
options:
  files:
    description: The files to write.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path of the file; its directory must exist.
        type: path
        required: true
      content:
        description: The whole content of the file.
        type: str
        required: true
      owner:
        description: User that owns the file.
        type: str
        default: root
      group:
        description: Group that owns the file.
        type: str
        default: root
      mode:
        description: Octal permissions, as a string (C("0640")).
        type: str
        required: true
author: shadowops
"""

EXAMPLES = r"""
- name: Write the service's settings
  shadowops.host.files:
    files:
      - dest: /etc/app/app.cfg
        content: "{{ lookup('ansible.builtin.template', 'app.cfg.j2') }}"
        group: app
        mode: "0640"
  no_log: true
  notify: Restart app
"""

RETURN = r"""
changed_files:
  description: The files that were written or whose owner, group or mode changed.
  returned: always
  type: list
  elements: str
"""

import grp
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _wanted(module, spec):
    try:
        uid = pwd.getpwnam(spec["owner"]).pw_uid
    except KeyError:
        module.fail_json(msg=f"{spec['dest']}: no user {spec['owner']!r} on the host")
    try:
        gid = grp.getgrnam(spec["group"]).gr_gid
    except KeyError:
        module.fail_json(msg=f"{spec['dest']}: no group {spec['group']!r} on the host")
    try:
        mode = int(spec["mode"], 8)
    except ValueError:
        module.fail_json(msg=f"{spec['dest']}: mode {spec['mode']!r} is not octal")
    return spec["content"].encode("utf-8"), uid, gid, mode


def _differs(path, data, uid, gid, mode):
    """(content differs, attributes differ) of the file at path."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return True, True
    attrs = st.st_uid != uid or st.st_gid != gid or stat.S_IMODE(st.st_mode) != mode
    if st.st_size != len(data):
        return True, attrs
    with open(path, "rb") as f:
        return f.read() != data, attrs


def _write(path, data, uid, gid, mode):
    # Owner and mode are set on the temporary file before any byte of a
    # secret is written to it, and it replaces the file in one rename.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".shadowops-")
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, gid)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    dest=dict(type="path", required=True),
                    content=dict(type="str", required=True, no_log=True),
                    owner=dict(type="str", default="root"),
                    group=dict(type="str", default="root"),
                    mode=dict(type="str", required=True),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    changed = []
    for spec in module.params["files"]:
        path = spec["dest"]
        if not os.path.isabs(path):
            module.fail_json(msg=f"{path}: dest must be an absolute path")
        if not os.path.isdir(os.path.dirname(path)):
            module.fail_json(msg=f"{path}: its directory does not exist")
        data, uid, gid, mode = _wanted(module, spec)
        content_differs, attrs_differ = _differs(path, data, uid, gid, mode)
        if not (content_differs or attrs_differ):
            continue
        changed.append(path)
        if module.check_mode:
            continue
        try:
            if content_differs:
                _write(path, data, uid, gid, mode)
            else:
                os.chown(path, uid, gid)
                os.chmod(path, mode)
        except OSError as e:
            module.fail_json(msg=f"{path}: {e}", changed_files=changed[:-1])
    module.exit_json(changed=bool(changed), changed_files=changed)


if __name__ == "__main__":
    main()
