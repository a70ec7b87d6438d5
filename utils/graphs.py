"""CUDA graphs for the training forward and backward: on a GPU, a step of these tiny nets is mostly launch overhead.

A step is a long row of tiny kernels, and launched one by one from Python they leave the GPU waiting. Captured once
as CUDA graphs (``torch.cuda.make_graphed_callables``), the forward and the backward replay with one launch each.
The loss, the optimizer, the LR schedule and the weight average run as before, on the gradients the replay gives.
"""
import torch


class GraphedForward:
    """Computes a training batch's logits: through the captured graphs when the batch has the captured size, through
    the model's own forward otherwise (the short last batch of an epoch). In eval mode the model runs as it is
    (make_graphed_callables falls back by itself). `release()` gives the model its own forward back."""

    def __init__(self, model, batch_shape):
        device = next(model.parameters()).device
        self.model, self.batch_size = model, batch_shape[0]
        self._own_forward = model.forward
        state = {name: value.clone() for name, value in model.state_dict().items()}
        rng = torch.cuda.get_rng_state(device)
        training = model.training
        model.train()
        torch.cuda.make_graphed_callables(model, (torch.randn(batch_shape, device=device),))
        # warm-up and capture ran forward passes on random images: put BatchNorm's statistics and the RNG back, in
        # place, so that the graphs (which hold these tensors) and an uncaptured run start from the same state
        model.load_state_dict(state)
        torch.cuda.set_rng_state(rng, device)
        model.train(training)

    def __call__(self, images):
        if images.shape[0] == self.batch_size:
            return self.model(images)
        return self._own_forward(images)

    def release(self):
        del self.model.forward  # make_graphed_callables set it on the instance; the class's forward shows again


def graphed_forward(model, config, data):
    """A GraphedForward for `model` when config asks for CUDA graphs and trains on CUDA with at least one full
    batch; else None (train the model as it is)."""
    if not (config.cuda_graphs and config.resolved_device.type == "cuda"
            and len(data.train_labels) >= config.batch_size):
        return None
    try:
        return GraphedForward(model, (config.batch_size, *data.train_images.shape[1:]))
    except RuntimeError as error:  # e.g. a torch or driver that cannot capture: say how to train without
        raise RuntimeError(f"capturing the model as CUDA graphs failed ({error}); RunConfig(cuda_graphs=False) "
                           "trains without them (build the model afresh: the capture may have run it)") from error
