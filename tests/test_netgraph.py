"""Networks as data (mnist_lab/netgraph.py): any network built from torch layers is recorded as a graph of core ATen
operations and rebuilt exactly by the grader; malformed or hostile graphs are refused with a message, never run."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mnist_lab import handin
from mnist_lab.netgraph import ALLOWED, TRACE_BATCH, GraphError, GraphNet, architecture
from solutions.problem5 import build_cnn
from valid_networks import MEMBERS


class Residual(nn.Module):
    """PReLU, batch norm, Dropout2d, an in-place ReLU and a residual add: several values alive at once."""

    def __init__(self, input_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=(28 - input_size) // 2)
        self.conv2 = nn.Conv2d(16, 16, 5, padding=2)
        self.bn, self.act, self.drop = nn.BatchNorm2d(16), nn.PReLU(), nn.Dropout2d(0.25)
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 16 x 12 x 12
        x = x + self.act(self.bn(self.conv2(x)))
        x = self.drop(F.max_pool2d(F.relu_(x), 2))  # 16 x 6 x 6
        x = F.adaptive_avg_pool2d(x, 4)
        return F.log_softmax(self.fc(x.view(x.size(0), -1)), dim=1)


def recorded(model, size=28) -> dict:
    return handin.record_network(model, size)


def rebuilt(model, size=28) -> GraphNet:
    return handin.rebuild(recorded(model, size))


@pytest.mark.parametrize("name", ["reference", "prelu", "heavy_dropout", "bn_dropout_8x8", "c64_2x2", "tiny1"])
@pytest.mark.parametrize("size", [28, 24])
def test_family_members_are_rebuilt_exactly_with_their_architecture(name, size):
    torch.manual_seed(0)
    model = MEMBERS[name](size).eval()
    for module in model.modules():  # batch norm with statistics of its own, not the identity
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
    net = rebuilt(model, size)
    x = torch.randn(TRACE_BATCH, 1, size, size)
    with torch.no_grad():
        assert torch.allclose(net(x), model(x), atol=1e-5)
    assert architecture(net) is None


def test_a_residual_network_is_a_graph_not_a_stream():
    net = rebuilt(Residual())
    adds = [n for n in net.nodes if n.get("op") == "aten.add.Tensor"
            and sum(isinstance(a, dict) and "node" in a for a in n["args"]) == 2]
    assert adds, "the residual add of two computed values is in the graph"
    model = Residual().eval()
    x = torch.randn(TRACE_BATCH, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(rebuilt(model)(x), model(x), atol=1e-5)
    assert "576 values" in architecture(net)  # 16 x 6 x 6 after the second pooling


def test_the_architecture_is_read_from_the_replay():
    four_hundred = nn.Sequential(nn.Conv2d(1, 16, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(16, 16, 3),
                                 nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 10))
    assert "leaves 400 values" in architecture(rebuilt(four_hundred))
    average = nn.Sequential(nn.Conv2d(1, 16, 5), nn.MaxPool2d(2), nn.Conv2d(16, 16, 5), nn.AvgPool2d(2),
                            nn.Flatten(), nn.Linear(256, 10))
    assert "two max-pooling layers, found 1" in architecture(rebuilt(average))
    three = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Conv2d(8, 8, 3), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3),
                          nn.MaxPool2d(2), nn.Flatten(), nn.LazyLinear(10))
    three(torch.zeros(1, 1, 28, 28))
    assert "exactly two convolutional layers, found 3" in architecture(rebuilt(three))
    wide = nn.Sequential(nn.Conv2d(1, 16, 5), nn.MaxPool2d(4), nn.Conv2d(16, 16, 3), nn.MaxPool2d(2),
                         nn.Flatten(), nn.LazyLinear(10))
    wide(torch.zeros(1, 1, 28, 28))
    assert "must be 2x2" in architecture(rebuilt(wide))


def test_a_layer_the_grader_cannot_rebuild_is_named_with_what_to_use_instead():
    model = nn.Sequential(*list(build_cnn(28))[:-1], nn.Linear(256, 10), nn.RReLU())
    with pytest.raises(GraphError, match=r"in an nn\.RReLU layer.*use nn\.LeakyReLU"):
        rebuilt(model)

    class RandomInEval(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = build_cnn(28)

        def forward(self, x):
            return F.dropout(self.net(x), 0.5)  # training=True whatever the mode

    with pytest.raises(GraphError, match=r"random numbers in eval mode.*nn\.Dropout"):
        rebuilt(RandomInEval())


def test_the_in_kernel_check_gives_the_graders_message():
    assert handin.architecture_problem(build_cnn(24), 24) is None
    broken = nn.Sequential(nn.Conv2d(1, 16, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(16, 16, 3), nn.MaxPool2d(2),
                           nn.Flatten(), nn.Linear(400, 10))
    assert "not 256" in handin.architecture_problem(broken, 28)


# --- hostile graphs: refused before anything runs -------------------------------------------------------------

@pytest.fixture
def graph():
    return copy.deepcopy(recorded(build_cnn(28)))


def weights_of(graph):
    return {name: torch.from_numpy(handin.decode_array(value)) for name, value in graph["weights"].items()}


def call_nodes(graph):
    return [n for n in graph["nodes"] if n["kind"] == "call"]


@pytest.mark.parametrize("change, message", [
    (lambda g: call_nodes(g)[0].update(op="aten.copy_.default"), "does not rebuild"),
    (lambda g: call_nodes(g)[0].update(op="builtins.eval"), "does not rebuild"),
    (lambda g: call_nodes(g)[0].update(op="aten.empty.memory_format"), "uninitialised memory"),
    (lambda g: call_nodes(g)[0]["args"].__setitem__(0, {"node": "later_node"}), "before it is computed"),
    (lambda g: call_nodes(g)[0]["args"].__setitem__(0, {"code": "import os"}), "argument the grader does not"),
    (lambda g: call_nodes(g)[0]["args"].__setitem__(0, "__import__('os')"), "argument the grader does not"),
    (lambda g: g["nodes"].insert(3, {"name": "huge", "kind": "call", "op": "aten.full.default",
                                     "args": [[2**20, 2**20], 1.0], "kwargs": {}}), "too large"),
    (lambda g: g.update(batch=3), "batch of 3"),
    (lambda g: g["nodes"].extend({"name": f"n{i}", "kind": "input"} for i in range(6000)), "more than"),
    (lambda g: g.update(nodes=[n for n in g["nodes"] if n["kind"] != "output"]), "one output"),
    (lambda g: g.update(input_size=1000), "input size"),
])
def test_malformed_graphs_are_refused(graph, change, message):
    change(graph)
    with pytest.raises(GraphError, match=message):
        GraphNet(graph, weights_of(graph))


def test_sizes_are_bounded_before_any_memory_is_used(graph):
    # two allowed values whose product would be 2**48 numbers: found on the meta device, never allocated
    graph["nodes"][-1:-1] = [
        {"name": "col", "kind": "call", "op": "aten.full.default", "args": [[2**24, 1], 1.0], "kwargs": {}},
        {"name": "row", "kind": "call", "op": "aten.full.default", "args": [[1, 2**24], 1.0], "kwargs": {}},
        {"name": "outer", "kind": "call", "op": "aten.mm.default", "args": [{"node": "col"}, {"node": "row"}],
         "kwargs": {}}]
    graph["nodes"][-1]["args"] = {"node": "outer"}
    with pytest.raises(GraphError, match=f"{2**48} numbers"):
        GraphNet(graph, weights_of(graph))


def test_batch_norm_must_be_recorded_in_eval_mode():
    graph = recorded(MEMBERS["batchnorm"](28))
    norm = next(n for n in call_nodes(graph) if "batch_norm" in n["op"])
    if norm["op"] == "aten.native_batch_norm.default":
        norm["args"][5] = True
        with pytest.raises(GraphError, match="training mode"):
            GraphNet(graph, weights_of(graph))


def test_a_forged_layer_name_is_not_echoed():
    graph = recorded(build_cnn(28))
    call_nodes(graph)[0]["op"] = "aten.bernoulli.p"
    graph["layers"] = {"aten.bernoulli.p": "<script>alert(1)</script>"}
    with pytest.raises(GraphError) as error:
        GraphNet(graph, weights_of(graph))
    assert "script" not in str(error.value)


def test_only_compute_operations_are_allowed():
    random_or_unsafe = {"aten.rand.default", "aten.randn.default", "aten.bernoulli.p", "aten.native_dropout.default",
                        "aten.empty.memory_format", "aten._local_scalar_dense.default", "aten.as_strided.default",
                        "aten.copy_.default", "aten.nonzero.default"}
    assert not random_or_unsafe & ALLOWED
    for name in ALLOWED - {"getitem"}:
        namespace, op, overload = name.split(".")
        assert not op.endswith("_") or op.startswith("_"), f"{name} writes in place"
        getattr(getattr(torch.ops.aten, op), overload)  # every name is a real operation
