# Sourced by the BERT peer scripts (from the repository root): sets `venv`
# to build/peers-venv, installing OpenVINO, NNCF, ONNX and ONNX Runtime into
# it with pip where they are missing.
venv=build/peers-venv
if ! "$venv/bin/python" -c "import openvino, nncf, onnx, onnxruntime" 2>/dev/null; then
  echo "installing openvino, nncf, onnx and onnxruntime into $venv (pip)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q openvino nncf onnx onnxruntime numpy
fi
