# %% [markdown]
# # 5. Layers, nodes and models
#
# Notebooks 1 to 4 were about the *autograd tape*: the graph of ops that ran on concrete numbers.
# A Keras model is a second, different graph, the **layer graph**: which layer feeds which. It is
# built before any data exists, from *symbolic* tensors, and it is what `summary()` prints and
# `plot_model` draws. Its vocabulary:
#
# * `KerasTensor`: a symbolic tensor, a shape and a dtype, no data;
# * `Layer`: a computation with weights (`Dense`, `SeparableConv2D`, ...);
# * `Node`: **one call** of a layer on symbolic tensors, linking it to the layers that produced
#   its inputs;
# * `Model`: the graph of nodes between some inputs and some outputs, itself usable as a layer.
#
# This notebook builds small models and looks at every one of these objects.
#
# **Exercises.** Three exercises ask you to walk the layer graph and to build a model. Each is a
# code cell with a blank: replace `raise NotImplementedError()` with your code, run the cell,
# then run the check below it. The checks try your code on models of their own and tell you
# what is wrong, or "not done yet".

# %%
from minikeras import Input, Model, Sequential
from minikeras.datasets import digits
from minikeras.exercises import (
    check_inbound_layer_names,
    check_layers_in_order,
    check_siamese_model,
)
from minikeras.layers import (
    Activation,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    SeparableConv2D,
    concatenate,
    subtract,
)
from minikeras.utils import plot_model, set_random_seed

set_random_seed(0)

# %% [markdown]
# ## Symbolic tensors
#
# `Input` creates a placeholder: a `KerasTensor` with a shape whose first entry, the batch size,
# is `None` (unknown until data comes).

# %%
image = Input(shape=(8, 8, 1), name="image")
print(image)
print("shape:", image.shape, " dtype:", image.dtype)

# %% [markdown]
# Calling a layer on a symbolic tensor does not compute anything. The layer builds its weights
# (it now knows the number of input channels), works out the output shape with
# `compute_output_shape`, records the call as a **node**, and returns a new symbolic tensor:

# %%
conv = SeparableConv2D(8, 3, activation="relu", name="conv")
features = conv(image)
print(features)
print("weights:", [w.shape for w in conv.weights])

# %% [markdown]
# Every symbolic tensor knows where it comes from: `_keras_history` is the triple
# `(layer, node_index, tensor_index)`, i.e. "output `tensor_index` of call `node_index` of
# `layer`".

# %%
print(features._keras_history)

# %% [markdown]
# ## Nodes
#
# The call made one `Node`, appended to the layer's `inbound_nodes`. A node lists, for each of
# its inputs, the layer that produced it, *which call* of that layer (`node_indices`) and which
# output of that call (`tensor_indices`). These three parallel lists are the edges of the layer
# graph.

# %%
node = conv.inbound_nodes[0]
print(node)
print("inbound_layers:", node.inbound_layers)
print("node_indices:  ", node.node_indices, "  tensor_indices:", node.tensor_indices)
print("input_shapes:  ", node.input_shapes, "  output_shapes:", node.output_shapes)
print("outbound_layer:", node.outbound_layer)

# %% [markdown]
# ## A model
#
# A `Model` is defined by its inputs and outputs. It walks the nodes backwards from the outputs
# to the inputs, finds every layer in between and sorts them by depth: that order is how it will
# run them on data.

# %%
pooled = GlobalAveragePooling2D(name="pool")(features)
probabilities = Dense(10, activation="softmax", name="classes")(pooled)
classifier = Model(image, probabilities, name="classifier")

print([layer.name for layer in classifier.layers])
classifier.summary()

# %% [markdown]
# The same model, drawn from its nodes with `plot_model` (each box is a layer; `show_shapes`
# adds its input and output shapes). Passing `to_file="classifier.svg"` would also write the
# drawing; SVG works without installing the Graphviz program.

# %%
plot_model(classifier, to_file=None, show_shapes=True)

# %% [markdown]
# ### Exercise 5.1: find the model's layers yourself
#
# `Model` found its layers by walking the nodes backwards from its outputs. Do the same: write
# `layers_in_order(model)` that starts from each tensor of `model.outputs`, follows
# `_keras_history` to a node, and from the node its `inbound_layers` and `node_indices` to the
# nodes before it, down to the `Input` layers. Return every layer once, each **after** all the
# layers that feed it (any such order passes, not only `model.layers`'s).

# %%
def layers_in_order(model):
    """The model's layers, each after all the layers that feed it."""
    ### BEGIN SOLUTION
    calls, visited = [], set()   # the layer of each call, after the calls it reads

    def visit(layer, node_index):
        # a node is one call of a layer: mark nodes, since a shared layer has several
        if (layer.name, node_index) in visited:
            return
        visited.add((layer.name, node_index))
        node = layer.inbound_nodes[node_index]
        for inbound_layer, inbound_index in zip(node.inbound_layers, node.node_indices):
            visit(inbound_layer, inbound_index)     # first everything this call reads...
        calls.append(layer)                         # ...then the call itself

    for tensor in model.outputs:
        layer, node_index, _ = tensor._keras_history
        visit(layer, node_index)
    # a shared layer can run only once the inputs of all its calls exist: its last place
    order = []
    for layer in calls:
        if layer in order:
            order.remove(layer)
        order.append(layer)
    return order
    ### END SOLUTION


# %%
check_layers_in_order(layers_in_order)

# %% [markdown]
# Now data can flow. `predict` (or calling the model on an array) runs the layers in the order
# above, each on concrete numbers. This is an *eager* call: it makes no nodes, and any open
# `GradientTape` records its ops, which is how training works (notebook 8).

# %%
(x_train, y_train), _ = digits.load_data(normalize=True)
x_train = x_train[..., None]               # (n, 8, 8) -> (n, 8, 8, 1): channels last
print(classifier.predict(x_train[:3]).round(3))
print("still one node:", conv.inbound_nodes)

# %% [markdown]
# ## Shared layers and their inbound nodes
#
# A layer can be called more than once. Every call on symbolic tensors adds a node, and **all
# calls use the same weights**. That is how a Siamese network compares two images with one
# feature extractor. Here one `SeparableConv2D` sees a left and a right image:

# %%
left = Input((8, 8, 1), name="left")
right = Input((8, 8, 1), name="right")
shared = SeparableConv2D(4, 3, padding="same", activation="relu", name="shared_conv")
left_features = shared(left)      # node 0
right_features = shared(right)    # node 1
print(shared.inbound_nodes)

# %% [markdown]
# A shared layer has no single "input": `layer.input` would be ambiguous, and says so. Ask for a
# particular call instead, with `get_input_at(node_index)` and its friends:

# %%
try:
    print(shared.input)
except AttributeError as err:
    print("AttributeError:", err)

print("call 0 read:", shared.get_input_at(0).name, "  call 1 read:", shared.get_input_at(1).name)
print("call 1 output shape:", shared.get_output_shape_at(1))

# %% [markdown]
# ### Exercise 5.2: what did this call read?
#
# Write `inbound_layer_names(layer, node_index)`: the names of the layers whose outputs call
# `node_index` of `layer` read, in the order of its inputs. For `shared`, call 0 read `left`
# and call 1 read `right`.

# %%
def inbound_layer_names(layer, node_index):
    """Names of the layers feeding call `node_index` of `layer`."""
    ### BEGIN SOLUTION
    node = layer.inbound_nodes[node_index]
    return [inbound.name for inbound in node.inbound_layers]
    ### END SOLUTION


# %%
check_inbound_layer_names(inbound_layer_names)

# %% [markdown]
# The layers *after* the shared one point at a specific call. Concatenate the two feature maps
# and look at the concatenation's node: both inputs come from `shared_conv`, one from node 0 and
# one from node 1.

# %%
both = concatenate([left_features, right_features], name="both")
score = Dense(1, activation="sigmoid", name="score")(Flatten(name="flat")(both))
pair_model = Model([left, right], score, name="pair")

node = pair_model.get_layer("both").inbound_nodes[0]
print("inbound_layers:", [layer.name for layer in node.inbound_layers])
print("node_indices:  ", node.node_indices)
pair_model.summary()

# %% [markdown]
# `summary()` shows the same thing in its *Connected to* column, written `layer[node][tensor]`:
# `shared_conv[0][0]` and `shared_conv[1][0]`.
#
# The default drawing has one box per layer, so the shared layer is one box with two arrows in and
# out. The **node view** (`node_view=True`) draws one box per *call*: the inbound-node graph itself,
# with the node index in every box.

# %%
plot_model(pair_model, to_file=None, show_shapes=True)

# %%
plot_model(pair_model, to_file=None, show_shapes=True, node_view=True)

# %% [markdown]
# ## Nested models
#
# A model is a layer too, so it can be called on new symbolic tensors and used inside a bigger
# model. Let us make the feature extractor a model of its own and share it between two inputs:

# %%
digit = Input((8, 8, 1), name="digit")
h = SeparableConv2D(8, 3, activation="relu", name="sep")(digit)
h = GlobalAveragePooling2D(name="gap")(h)
encoder = Model(digit, h, name="encoder")

a = Input((8, 8, 1), name="a")
b = Input((8, 8, 1), name="b")
difference = subtract([encoder(a), encoder(b)], name="difference")
same = Dense(1, activation="sigmoid", name="same")(difference)
siamese = Model([a, b], same, name="siamese")
siamese.summary()

# %% [markdown]
# Look at the encoder's inbound nodes: there are **three**. Node 0 was made when the model was
# created (it links the model's own input to its own output, as in Keras 2), and the two calls
# made nodes 1 and 2. That is why the summary says `encoder[1][0]` and `encoder[2][0]`.

# %%
print(encoder.inbound_nodes)
print("weights shared:", siamese.get_layer("encoder").weights[0] is encoder.weights[0])

# %% [markdown]
# `expand_nested=True` opens the nested model in the drawing, as a dashed cluster of its layers:

# %%
plot_model(siamese, to_file=None, show_shapes=True, expand_nested=True)

# %% [markdown]
# ### Exercise 5.3: a siamese model around any encoder
#
# Write `make_siamese(encoder)`: given an encoder model of `(8, 8, 1)` images, return a model
# of **two** image inputs that runs the **same** encoder on both, subtracts the two feature
# vectors and ends with one sigmoid score per pair. The check gives it an encoder of its own
# and looks at the nodes: the encoder must have been called twice.

# %%
def make_siamese(encoder):
    """A two-input model that shares `encoder` between its inputs."""
    ### BEGIN SOLUTION
    first = Input((8, 8, 1))
    second = Input((8, 8, 1))
    difference = subtract([encoder(first), encoder(second)])
    return Model([first, second], Dense(1, activation="sigmoid")(difference))
    ### END SOLUTION


# %%
check_siamese_model(make_siamese)

# %% [markdown]
# The nested model runs like any layer:

# %%
print(siamese.predict([x_train[:4], x_train[4:8]]).round(3).ravel())

# %% [markdown]
# ## `Sequential`: the common special case
#
# When every layer has exactly one input and one output, a `Sequential` model builds the graph
# for you. It is a `Model` like the others (same summary, drawing, training):

# %%
mlp = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(32), Activation("relu"), Dense(10)],
                 name="mlp")
mlp.summary()
plot_model(mlp, to_file=None, show_shapes=True, rankdir="LR")

# %% [markdown]
# ## Summary
#
# * Calling a layer on a `KerasTensor` creates a `Node` and returns a new `KerasTensor` whose
#   `_keras_history` points back at that node; no data flows.
# * Each call of a layer is a node; `layer.inbound_nodes[i]` and `get_input_at(i)`,
#   `get_output_shape_at(i)`, ... index them. Shared layers share weights.
# * `Model(inputs, outputs)` collects the layers between, in depth order; `summary()` and
#   `plot_model(..., node_view=True)` show the nodes.
# * Models are layers: they nest, and their node 0 is the one made at construction.
#
# **Going further** (no check): call `shared` a third time, on `left` again. How many inbound
# nodes does it have now, and what does `plot_model(..., node_view=True)` of a model using all
# three calls show?
