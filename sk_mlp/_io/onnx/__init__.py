"""ONNX export: the graph builder, converters for the standard and sk_mlp
layers, the frame stage's inputs, the estimators' outputs, and the skl2onnx
converters. Imports onnx only inside functions (it is optional).

May import what :mod:`sk_mlp._io` may import, and :mod:`sk_mlp._io.layer_tree`.
"""
