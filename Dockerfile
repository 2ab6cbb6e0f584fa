# One image for every Aurora x WiseScalp service (API, calibration scheduler, runner).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 AURORA_HOME=/workspace
WORKDIR /app
COPY pyproject.toml README.md ./
COPY aurora ./aurora
COPY configs ./configs
COPY notebooks ./notebooks
COPY pipelines ./pipelines
RUN pip install --no-cache-dir -e . \
 && python -m ipykernel install --sys-prefix --name aurora --display-name "Aurora (Python 3)"
RUN mkdir -p /workspace/configs /workspace/data /workspace/logs && cp configs/default.yaml /workspace/configs/
WORKDIR /workspace
EXPOSE 8000
CMD ["auroractl", "serve", "--host", "0.0.0.0", "--port", "8000"]
