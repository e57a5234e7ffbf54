"""hyperlaw.trainer: proxy GPT models trained with PyTorch."""
