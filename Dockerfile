# Production image: gunicorn + whitenoise for the web, the same image for Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# WeasyPrint needs Pango, and HarfBuzz-Subset to subset the fonts it embeds (without it,
# fontTools does that in Python: a receipt takes 4× longer); pdftoppm is handy for checking
# PDFs; pg_dump for backups.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b \
    libharfbuzz-subset0 libffi8 shared-mime-info poppler-utils postgresql-client curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY motcua ./motcua
COPY procedures ./procedures
COPY dossiers ./dossiers
COPY ratings ./ratings
COPY reports ./reports
RUN pip install .
COPY . .
RUN useradd --system --uid 10001 motcua && mkdir -p /app/var /data/media \
 && chown -R motcua /app/var /data/media
USER motcua
# collectstatic needs settings but no database; a build-time key is never used at run time.
RUN MOTCUA_ENV=build SECRET_KEY=build-only python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["gunicorn", "motcua.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
