"""The one place that talks to ezkl and ONNX: the adapter, its typed settings view, the instance layout, the verify
worker."""
