# One image for the API and the workers: `hyperlaw serve` or `hyperlaw worker`.
# TORCH_SPEC picks the torch build: the CPU wheel by default; for GPU workers build with
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 .
FROM python:3.11-slim

ARG TORCH_SPEC="torch>=2.3"
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

WORKDIR /srv/hyperlaw
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" "${TORCH_SPEC}"
COPY pyproject.toml README.md alembic.ini ./
COPY app app
COPY fitting fitting
COPY trainer trainer
COPY migrations migrations
RUN pip install --no-cache-dir ".[cluster]"

ENV HYPERLAW_CHECKPOINT_DIR=/var/lib/hyperlaw/checkpoints
VOLUME /var/lib/hyperlaw
EXPOSE 8000
ENTRYPOINT ["hyperlaw"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
