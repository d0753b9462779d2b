# The challenge image: the organisers build this file and run train_model.py / driver.py in it.
FROM python:3.11.7-slim

# joblib/torch need no system packages beyond the slim base.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

COPY requirements.txt /physionet/requirements.txt
RUN pip install --no-cache-dir -r /physionet/requirements.txt

COPY . /physionet
WORKDIR /physionet
