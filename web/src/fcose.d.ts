declare module 'cytoscape-fcose';
declare module '*.css';
