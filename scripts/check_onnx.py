"""Development-time check of exported ONNX files with the ONNX project's own checker (full check,
with shape inference): /usr/bin/python3 scripts/check_onnx.py FILE... (needs python3-onnx)."""
import sys

import onnx

bad = 0
for f in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(f), full_check=True)
        print('ok  ', f)
    except Exception as e:  # report every file, then fail
        bad += 1
        print('FAIL', f, e)
sys.exit(1 if bad else 0)
