from jobqueue import create_app

app = create_app()
