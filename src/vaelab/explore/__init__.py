"""The latent explorer: `vaelab explore RUN [RUN ...]` serves a page on 127.0.0.1 where a
trained model's latent space can be seen and touched (session.py: the computations; app.py:
the web application; serve.py: opening runs and the server; static/: the page)."""
