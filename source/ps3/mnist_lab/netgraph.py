"""Networks as data: a forward pass recorded as a graph of PyTorch's core ATen operations, and replayed.

The grader must test a student's trained network without running any code from the student's kernel. So the
hidden tests record the network's forward pass as *data*: ``record_graph`` traces it with ``make_fx``
(functionalised, decomposed into the core ATen operation set that ``torch.export`` also targets), and writes
every node as an operation name with literal arguments or references to earlier nodes, plus the weights.
Whatever torch layers the network is built from (dropout, PReLU, batch norm, padding, adaptive pooling, a
residual add, concatenation), the graph holds only operations from that closed, documented set.

``GraphNet`` rebuilds such a graph: it accepts only the compute-only operations in ``ALLOWED``, checks every
reference and literal, replays the graph once on the meta device (shapes only, no memory) to bound every
intermediate size, and then runs it with ``torch.ops.aten``. ``architecture`` reads the convolutions, the
poolings and the sizes from that replay.

Sizes are literal in a recorded graph (a flatten is ``view(x, [500, 256])``), so a graph is recorded for a batch
of ``TRACE_BATCH`` images and replays batches of exactly that size.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch

TRACE_BATCH = 500  # images per recorded batch; the test set's 10000 images are 20 such batches
MAX_NODES = 5000
MAX_ELEMENTS = 2**25  # per intermediate value: 32 M numbers, far above a 500-image MNIST batch of any sane net

_VIEWS = ("view", "permute", "expand", "slice.Tensor", "select.int", "squeeze.dim", "squeeze.dims",
          "unsqueeze", "alias", "t", "transpose.int")
# Core ATen operations that only compute: no randomness, no uninitialised memory, no data-dependent sizes, no
# in-place writes, no reads of a tensor's value into Python. A network made of torch layers decomposes into these.
ALLOWED = frozenset(
    [f"aten.{name}" for name in (
        "convolution.default", "max_pool2d_with_indices.default", "avg_pool2d.default", "avg_pool3d.default",
        "_adaptive_avg_pool2d.default", "adaptive_max_pool2d.default", "index.Tensor", "constant_pad_nd.default", "reflection_pad2d.default",
        "replication_pad2d.default", "upsample_nearest2d.vec", "upsample_bilinear2d.vec",
        "addmm.default", "mm.default", "bmm.default",
        "native_batch_norm.default", "_native_batch_norm_legit_no_training.default",
        "native_layer_norm.default", "native_group_norm.default",
        "_log_softmax.default", "_softmax.default",
        "relu.default", "leaky_relu.default", "elu.default", "gelu.default", "hardtanh.default",
        "sigmoid.default", "tanh.default", "erf.default", "exp.default", "expm1.default", "log.default",
        "log1p.default", "sqrt.default", "rsqrt.default", "reciprocal.default", "abs.default", "neg.default",
        "sign.default", "floor.default", "ceil.default", "round.default", "trunc.default",
        "sin.default", "cos.default",
        "add.Tensor", "add.Scalar", "sub.Tensor", "sub.Scalar", "mul.Tensor", "mul.Scalar", "div.Tensor",
        "div.Scalar", "div.Tensor_mode", "pow.Tensor_Scalar", "pow.Tensor_Tensor", "pow.Scalar",
        "maximum.default", "minimum.default", "clamp.default", "clamp.Tensor", "where.self",
        "gt.Scalar", "gt.Tensor", "ge.Scalar", "ge.Tensor", "lt.Scalar", "lt.Tensor", "le.Scalar", "le.Tensor",
        "eq.Scalar", "eq.Tensor", "ne.Scalar", "ne.Tensor", "logical_not.default", "logical_and.default",
        "logical_or.default",
        "amax.default", "amin.default", "sum.dim_IntList", "mean.dim", "mean.default", "var.correction",
        "max.dim", "min.dim", "argmax.default", "cumsum.default", "prod.dim_int",
        "cat.default", "split_with_sizes.default", "repeat.default", "flip.default", "clone.default",
        "full.default", "full_like.default", "scalar_tensor.default", "arange.start_step", "fill.Scalar",
        "_to_copy.default", "_unsafe_view.default",
        *(f"{view}" if "." in view else f"{view}.default" for view in _VIEWS),
        # functionalisation turns views into copies of the same name
        *(f"{view.split('.')[0]}_copy.{view.split('.')[1] if '.' in view else 'default'}" for view in _VIEWS),
    )] + ["getitem"])
POOL, CONV = "aten.max_pool2d_with_indices.default", "aten.convolution.default"
CREATE = ("aten.full.default", "aten.scalar_tensor.default", "aten.arange.start_step")  # made on the input's device
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16,
          "int64": torch.int64, "int32": torch.int32, "bool": torch.bool, "uint8": torch.uint8}
LAYOUTS = {"strided": torch.strided}
MEMORY_FORMATS = {"contiguous_format": torch.contiguous_format, "preserve_format": torch.preserve_format,
                  "channels_last": torch.channels_last}
# What to say when a graph holds an operation outside ALLOWED (keys are parts of the operation's name).
ADVICE = {"rrelu": "use nn.LeakyReLU with negative_slope=(lower + upper) / 2, which is what nn.RReLU computes in "
                   "eval mode",
          "rand": "the forward pass draws random numbers in eval mode (for example F.dropout without "
                  "training=self.training): use nn.Dropout or nn.Dropout2d, which switch off in eval mode",
          "bernoulli": "the forward pass draws random numbers in eval mode (for example F.dropout without "
                       "training=self.training): use nn.Dropout or nn.Dropout2d, which switch off in eval mode",
          "dropout": "the forward pass draws random numbers in eval mode: use nn.Dropout or nn.Dropout2d",
          "_local_scalar_dense": "the forward pass reads a tensor's value into Python (.item(), `if tensor:`): "
                                 "keep the forward pass to tensor operations",
          "empty": "the forward pass uses uninitialised memory (torch.empty): use torch.zeros"}


class GraphError(ValueError):
    """A recorded graph that cannot be rebuilt; the message says why, for the student."""


# --- recording (in the student's kernel) -------------------------------------------------------------------

def _decompositions():
    from torch._decomp import core_aten_decompositions

    return core_aten_decompositions()


def _encode(value):
    import torch.fx

    if isinstance(value, torch.fx.Node):
        return {"node": value.name}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": True}
    if isinstance(value, torch.layout):
        return {"layout": str(value).removeprefix("torch.")}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).removeprefix("torch.")}
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return {"other": type(value).__name__}


def _op_name(target) -> str:
    return "getitem" if target is operator.getitem else str(target)


def record_graph(model: torch.nn.Module, input_size: int, encode_weight) -> dict:
    """The forward pass of ``model`` (eval mode) on ``TRACE_BATCH`` images as a graph of core ATen operations.

    ``encode_weight(tensor)`` turns each weight into JSON-ready data. Raises whatever the forward pass raises.
    """
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.func import functionalize

    from torch._subclasses.fake_tensor import FakeTensor

    def trace(mode: str):
        with torch.no_grad():
            return make_fx(functionalize(model, remove="mutations_and_views"), decomposition_table=_decompositions(),
                           tracing_mode=mode, _allow_non_fake_inputs=True)(
                torch.zeros(TRACE_BATCH, 1, input_size, input_size))

    was_training = model.training
    model.eval()
    try:
        # Fake tensors trace without computing (a fifth of the time); a forward pass that looks at values, or
        # makes tensors of its own, is traced for real.
        try:
            traced = trace("fake")
            if any(isinstance(getattr(traced, n.target), FakeTensor) for n in traced.graph.nodes if n.op == "get_attr"):
                raise ValueError("a constant made during the forward pass")
        except Exception:  # noqa: BLE001
            traced = trace("real")
    finally:
        model.train(was_training)
    traced.graph.eliminate_dead_code()
    nodes, weights = [], {}
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            nodes.append({"name": node.name, "kind": "input"})
        elif node.op == "get_attr":
            value = getattr(traced, node.target)
            weights[node.name] = encode_weight(value.detach().float() if value.is_floating_point() else value.detach())
            nodes.append({"name": node.name, "kind": "weight"})
        elif node.op == "call_function":
            nodes.append({"name": node.name, "kind": "call", "op": _op_name(node.target),
                          "args": _encode(node.args), "kwargs": {k: _encode(v) for k, v in node.kwargs.items()}})
        elif node.op == "output":
            nodes.append({"name": node.name, "kind": "output", "args": _encode(node.args[0])})
    graph = {"input_size": input_size, "batch": TRACE_BATCH, "nodes": nodes, "weights": weights}
    unknown = sorted({n["op"] for n in nodes if n["kind"] == "call" and n["op"] not in ALLOWED})
    if unknown:
        graph["layers"] = _layers_using(model, input_size, set(unknown))
    return graph


def _layers_using(model, input_size: int, ops: set[str]) -> dict[str, str]:
    """For operations the grader does not rebuild: the torch.nn layer type that produces each, where one does
    (each leaf layer is traced alone on the input it gets). Only torch's own class names are reported."""
    from torch.fx.experimental.proxy_tensor import make_fx

    inputs = {}

    def keep_input(module, args, output) -> None:  # a hook that returned a value would replace the output
        inputs.setdefault(module, args)

    hooks = [m.register_forward_hook(keep_input) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(2, 1, input_size, input_size))
    except Exception:  # noqa: BLE001 - naming the layer is a courtesy; the graph is judged without it
        return {}
    finally:
        for hook in hooks:
            hook.remove()
    found = {}
    for module, args in inputs.items():
        if not type(module).__module__.startswith("torch.nn"):
            continue
        try:
            with torch.no_grad():
                traced = make_fx(module, decomposition_table=_decompositions())(*args)
        except Exception:  # noqa: BLE001
            continue
        for node in traced.graph.nodes:
            if node.op == "call_function" and _op_name(node.target) in ops:
                found.setdefault(_op_name(node.target), type(module).__name__)
    return found


# --- rebuilding (in the grader, on untrusted data) -----------------------------------------------------------

def _literal(value, refs: set[str]):
    """Check one encoded argument: literals, references to earlier nodes and the tagged forms of _encode."""
    if isinstance(value, list):
        for item in value:
            _literal(item, refs)
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            if math.prod(abs(v) for v in value) > MAX_ELEMENTS:
                raise GraphError(f"a size of {value} is too large")
        return
    if isinstance(value, dict):
        key = next(iter(value), None)
        if len(value) != 1 or key not in ("node", "dtype", "device", "layout", "memory_format", "float"):
            raise GraphError(f"the graph holds an argument the grader does not rebuild ({str(value)[:60]})")
        if key == "node" and value["node"] not in refs:
            raise GraphError("the graph refers to a value before it is computed")
        table = {"dtype": DTYPES, "layout": LAYOUTS, "memory_format": MEMORY_FORMATS}.get(key)
        if table is not None and value[key] not in table:
            raise GraphError(f"the graph uses {key} {str(value[key])[:30]!r}, which the grader does not rebuild")
        if key == "float" and value["float"] not in ("inf", "-inf", "nan"):
            raise GraphError("the graph holds a malformed number")
        return
    if value is None or isinstance(value, (bool, int, float)):
        return
    if isinstance(value, str) and value in ("floor", "trunc", "none", "tanh"):  # rounding and gelu modes
        return
    raise GraphError(f"the graph holds an argument the grader does not rebuild ({str(value)[:60]})")


def _unsupported(nodes: list, layers: dict) -> GraphError:
    """The error for a graph with operations outside ALLOWED: the most telling one, its layer and what to do."""
    ops = [str(n.get("op"))[:80] for n in nodes
           if isinstance(n, dict) and n.get("kind") == "call" and n.get("op") not in ALLOWED]
    op = next((op for key in ADVICE for op in ops if key in op), ops[0])
    layer = layers.get(op) if isinstance(layers, dict) else None
    known = isinstance(layer, str) and isinstance(getattr(torch.nn, layer, None), type)
    where = f" (in an nn.{layer} layer)" if known else ""
    advice = next((text for key, text in ADVICE.items() if key in op),
                  "build the network from standard torch layers: convolutions, max-pooling, activations such as "
                  "ReLU, tanh or PReLU, dropout, batch norm, flatten/view and linear layers")
    return GraphError(f"the network uses the operation {op}{where}, which the grader does not rebuild; {advice}")


def _check(graph) -> tuple[list, str, str]:
    """The nodes of a well-formed graph, its input's name and its output's name; GraphError otherwise."""
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list) or not graph["nodes"]:
        raise GraphError("no network was recorded")
    nodes = graph["nodes"]
    if len(nodes) > MAX_NODES:
        raise GraphError(f"the network has more than {MAX_NODES} operations")
    if graph.get("batch") != TRACE_BATCH:
        raise GraphError(f"the network was recorded for a batch of {graph.get('batch')!r}, not {TRACE_BATCH}")
    refs, inputs, outputs = set(), [], []
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or node["name"] in refs:
            raise GraphError("the recorded graph is malformed")
        kind = node.get("kind")
        if kind == "call":
            if not isinstance(node.get("args", []), list):
                raise GraphError("the recorded graph is malformed")
            if node.get("op") not in ALLOWED:
                raise _unsupported(nodes, graph.get("layers") or {})
            if not isinstance(node.get("kwargs", {}), dict):
                raise GraphError("the recorded graph is malformed")
            _literal(node.get("args", []), refs)
            _literal(list(node.get("kwargs", {}).values()), refs)
            if "batch_norm" in node["op"] and node["op"].startswith("aten.native_batch_norm") and \
                    (len(node["args"]) < 6 or node["args"][5] is not False):
                raise GraphError("batch norm was recorded in training mode")
        elif kind == "output":
            _literal(node.get("args"), refs)
            outputs.append(node)
        elif kind == "input":
            inputs.append(node["name"])
        elif kind != "weight":
            raise GraphError("the recorded graph is malformed")
        refs.add(node["name"])
    if len(inputs) != 1 or len(outputs) != 1:
        raise GraphError("the network must take one input and give one output")
    return nodes, inputs[0], outputs[0]["name"]


def _resolve(value, values: dict, device):
    if isinstance(value, list):
        return [_resolve(v, values, device) for v in value]
    if isinstance(value, dict):
        key, item = next(iter(value.items()))
        if key == "node":
            return values[item]
        if key == "device":
            return device
        if key == "float":
            return float(item)
        return {"dtype": DTYPES, "layout": LAYOUTS, "memory_format": MEMORY_FORMATS}[key][item]
    return value


def _call(op: str, args, kwargs):
    if op == "getitem":
        if len(args) != 2 or not isinstance(args[0], (tuple, list)) or not isinstance(args[1], int):
            raise GraphError("the recorded graph is malformed")
        return args[0][args[1]]
    namespace, name, overload = op.split(".")
    return getattr(getattr(getattr(torch.ops, namespace), name), overload)(*args, **kwargs)


@dataclass(frozen=True)
class Layer:
    """A convolution or max-pooling of a rebuilt network, in the order the forward pass computes them."""

    kind: str  # "conv" or "pool"
    kernel: list  # kernel size (pooling) or weight shape (convolution)
    shape: list  # output shape, batch first


class GraphNet(torch.nn.Module):
    """A network rebuilt from a recorded graph and its weights (already decoded tensors)."""

    def __init__(self, graph: dict, weights: dict[str, torch.Tensor]):
        super().__init__()
        self.nodes, self.input, self.output = _check(graph)
        missing = [n["name"] for n in self.nodes if n["kind"] == "weight" and n["name"] not in weights]
        if missing:
            raise GraphError(f"the weights of {missing[0]!r} were not recorded")
        self.weights = {n["name"]: weights[n["name"]] for n in self.nodes if n["kind"] == "weight"}
        self.input_size = graph.get("input_size")
        if self.input_size not in (24, 28):
            raise GraphError("the network was recorded for an input size other than 24 or 28")
        self.layers, self.output_shape = self._dry_run()

    def _run(self, x: torch.Tensor, record=None):
        values = {}
        for node in self.nodes:
            kind = node["kind"]
            if kind == "input":
                values[node["name"]] = x
            elif kind == "weight":
                values[node["name"]] = self.weights[node["name"]].to(x.device)
            elif kind == "call":
                args = _resolve(node.get("args", []), values, x.device)
                kwargs = {k: _resolve(v, values, x.device) for k, v in node.get("kwargs", {}).items()}
                if node["op"] in CREATE:  # on the meta device in the dry run, whatever was recorded
                    kwargs["device"] = x.device
                values[node["name"]] = result = _call(node["op"], args, kwargs)
                if record is not None:
                    record(node, args, result)
            else:
                return _resolve(node["args"], values, x.device)

    def _dry_run(self):
        """Replay on the meta device: every size is checked before any memory is used; conv and pool layers."""
        layers = []

        def record(node, args, result):
            for value in result if isinstance(result, (tuple, list)) else [result]:
                if isinstance(value, torch.Tensor) and value.numel() > MAX_ELEMENTS:
                    raise GraphError(f"an intermediate value of the network has {value.numel()} numbers")
            if node["op"] == CONV:
                layers.append(Layer("conv", list(args[1].shape), list(result.shape)))
            elif node["op"] == POOL:
                layers.append(Layer("pool", list(args[1]), list(result[0].shape)))

        try:
            out = self._run(torch.zeros(TRACE_BATCH, 1, self.input_size, self.input_size, device="meta"), record)
        except GraphError:
            raise
        except Exception as exc:  # noqa: BLE001 - arguments that do not fit the operation
            raise GraphError(f"the recorded graph does not replay ({type(exc).__name__}: {str(exc)[:160]})") from None
        if not isinstance(out, torch.Tensor):
            raise GraphError("the network must return one tensor of logits")
        return layers, list(out.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != (1, self.input_size, self.input_size) or x.shape[0] != TRACE_BATCH:
            raise GraphError(f"a rebuilt network takes batches of {TRACE_BATCH} x 1 x {self.input_size} x "
                             f"{self.input_size}, got {tuple(x.shape)}")
        return self._run(x)


def architecture(net: GraphNet) -> str | None:
    """Why a network is not two convolutions, each followed by a 2x2 max-pooling, with 256 values per image
    after the second and 10 logits at the end; None if it is."""
    size = net.input_size
    if net.output_shape != [TRACE_BATCH, 10]:
        return f"the network must give 10 logits per image, got shape {net.output_shape[1:]} per batch"
    kinds = [layer.kind for layer in net.layers]
    if kinds.count("conv") != 2:
        return f"expected exactly two convolutional layers, found {kinds.count('conv')}"
    if kinds.count("pool") != 2:
        return f"expected two max-pooling layers, found {kinds.count('pool')}"
    if kinds != ["conv", "pool", "conv", "pool"]:
        return f"each convolution must be followed by a max-pooling, got the order {kinds}"
    pools = [layer for layer in net.layers if layer.kind == "pool"]
    for pool in pools:
        if pool.kernel not in ([2], [2, 2]):
            return f"max-pooling must be 2x2, found kernel size {pool.kernel}"
    values = math.prod(pools[-1].shape[1:])
    if values != 256:
        return (f"after the second max-pooling the {size}x{size} input leaves {values} values per image "
                f"(shape {pools[-1].shape[1:]}), not 256")
    return None

