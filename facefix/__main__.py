from facefix.cli import main

# guarded: DataLoader workers started with spawn/forkserver import this module again
if __name__ == "__main__":
    main()
