from pjbench.encoders import ModelInfo, Preprocessing


class MeanContext:
    """Predicts every future frame as the mean of the context frames (8x8 RGB patch tokens)."""

    def __init__(self, checkpoint=None, device="cpu"):
        self.preprocessing = Preprocessing(resolution=32, frames=48, frame_step=10, sample_fps=6.0, tubelet=1, patch=8)
        self.info = ModelInfo(name="lab-mean-context", checkpoint=checkpoint)

    def encode(self, clips):  # (B, T, C, H, W) -> (B, T*h*w, C*p*p), tokens in (t, h, w) order
        b, t, c, h, w = clips.shape
        p = self.preprocessing.patch
        x = clips.reshape(b, t, c, h // p, p, w // p, p).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(b, t * (h // p) * (w // p), c * p * p)

    def targets(self, clips):  # what the future tokens really are
        return self.encode(clips)

    def predict(self, clips, n_context_frames):  # sees clips[:, :n_context_frames] only
        ctx = self.encode(clips[:, :n_context_frames])
        per_frame = ctx.reshape(clips.shape[0], n_context_frames, -1, ctx.shape[-1]).mean(dim=1)
        return per_frame.repeat(1, clips.shape[1] - n_context_frames, 1)


def factory(checkpoint=None, device="cpu", **kwargs):
    return MeanContext(checkpoint, device)


factory.pjbench_info = {"description": "Lab example: future = mean of the context frames", "resolution": 32,
                        "frames": 48, "tubelet": 1, "readouts": "surprise", "params": "0"}
