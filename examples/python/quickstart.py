# %% [markdown]
# # MetaTL quickstart
# Train MetaTL on the built-in synthetic cold-start data, plot its learning curve, compare it
# with the baselines' numbers, and recommend for a new user who has only three interactions.

# %%
import matplotlib
import matplotlib.pyplot as plt
import metatl

print("metatl", metatl.version())
data = metatl.Dataset.synthetic(side=24, train_users=2000, new_users=600, seed=1)
data

# %%
model = metatl.Model(dim=64, hidden=(128, 96), batch_size=512, learning_rate=0.003,
                     sampler="contiguous", threads=2, seed=1)
history = model.fit(data, max_steps=400, eval_every=50)

# %%
steps = [h["step"] for h in history]
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(steps[1:], [h["train_loss"] for h in history[1:]]); ax[0].set_title("query loss"); ax[0].set_xlabel("step")
ax[1].plot(steps, [h["valid_sampled_mrr"] for h in history]); ax[1].set_title("validation MRR (sampled)"); ax[1].set_xlabel("step")
fig.tight_layout()
plt.show()

# %%
for protocol in ("sampled", "full"):
    m = model.evaluate(data, split="test", protocol=protocol)
    print(f"test {protocol:7s}  MRR {m['MRR']:.4f}  Hits@10 {m['Hits@10']:.4f}  ({m['users']} users)")

# %%
new_user = model.item_ids[[10, 11, 12]]          # three interactions, oldest first
items, scores = model.recommend(new_user, top_n=5)
print(f"recommended for {list(new_user)}: {list(items)}")
model.save("quickstart.safetensors")
again = metatl.Model.load("quickstart.safetensors")
assert (again.recommend(new_user, top_n=5)[0] == items).all()
